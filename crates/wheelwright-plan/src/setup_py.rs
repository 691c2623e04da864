//! What flash-attn 2's `setup.py` says about archs, read from its text rather
//! than assumed: the `FLASH_ATTN_CUDA_ARCHS` default and the `-gencode` flags
//! it builds for a set of archs and a CUDA version.
//!
//! flash-attn writes its gencode logic as plain `if` blocks; this module reads
//! them line by line, tracking the conditions by indentation:
//! - `if "90" in archs:` / `if "90" in cuda_archs():` — the arch is requested;
//! - `if bare_metal_version >= Version("12.8")` — the toolkit is at least that;
//! - `and` of those, `else:` of a one-condition `if`; `CUDA_HOME is not None`,
//!   `not SKIP_CUDA_BUILD`, `not IS_ROCM` are taken as true (the plan is for a
//!   CUDA build on a host with a toolkit);
//! - a string literal `"arch=compute_X,code=Y"` is a flag, emitted when every
//!   enclosing condition holds; the f-string
//!   `f"arch=compute_{newest},code=compute_{newest}"` is PTX for the newest
//!   numeric arch requested (flash-attn main).
//!
//! 2.8.3 (`cc_flag.append(...)` under four `if`s) and main (`add_cuda_gencodes`
//! with 100f/120f/110f family targets and PTX for the newest) both read
//! correctly; the tests run on the real files (`fixtures/`). A condition of
//! another shape is treated as unknown and its block is skipped, so an
//! unfamiliar `setup.py` yields fewer flags, never invented ones.

use super::archs::CudaVersion;

/// One atom of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// `"90" in archs`.
    Arch(String),
    /// `bare_metal_version >= Version("12.8")`.
    CudaAtLeast(CudaVersion),
    /// Always true (`CUDA_HOME is not None`).
    True,
    /// A condition this reader does not understand.
    Unknown,
}

/// A condition: all atoms hold (each possibly negated by an `else`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cond {
    atoms: Vec<(Atom, bool)>,
}

impl Cond {
    fn holds(&self, archs: &[String], cuda: Option<CudaVersion>) -> bool {
        self.atoms.iter().all(|(atom, negated)| {
            let v = match atom {
                Atom::Arch(a) => archs.iter().any(|x| x == a),
                // Without a known toolkit, every version gate is taken as met
                // (the newest flags), as the planner does elsewhere.
                Atom::CudaAtLeast(min) => cuda.is_none_or(|c| c >= *min),
                Atom::True => true,
                Atom::Unknown => return false,
            };
            v != *negated
        })
    }
}

/// A flag and the condition it is emitted under.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Flag {
    /// `arch=compute_90,code=sm_90`.
    Literal(String),
    /// PTX for the newest numeric arch requested.
    PtxForNewest,
}

/// The gencode rules of one `setup.py`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GencodeRules {
    rules: Vec<(Cond, Flag)>,
}

impl GencodeRules {
    /// Read the rules from `setup.py`'s text; `None` when it has no gencode
    /// literal at all.
    pub fn parse(setup_py: &str) -> Option<Self> {
        let mut stack: Vec<(usize, Cond)> = Vec::new();
        // The condition of the last `if` closed at each indent, for `else:`.
        let mut last_if: Vec<(usize, Cond)> = Vec::new();
        let mut rules = Vec::new();
        for line in setup_py.lines() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            while stack.last().is_some_and(|(i, _)| *i >= indent) {
                if let Some(closed) = stack.pop() {
                    last_if.retain(|(i, _)| *i < closed.0);
                    last_if.push(closed);
                }
            }
            if let Some(cond) = trimmed
                .strip_prefix("if ")
                .or_else(|| trimmed.strip_prefix("elif "))
                .and_then(|c| c.trim_end().strip_suffix(':'))
            {
                stack.push((indent, parse_cond(cond)));
                continue;
            }
            if trimmed.trim_end() == "else:" {
                let negated = last_if
                    .iter()
                    .rev()
                    .find(|(i, _)| *i == indent)
                    .map(|(_, c)| negate(c))
                    .unwrap_or(Cond {
                        atoms: vec![(Atom::Unknown, false)],
                    });
                stack.push((indent, negated));
                continue;
            }
            if trimmed.starts_with("def ") || trimmed.starts_with("class ") {
                // A new definition: conditions of the code above do not apply.
                stack.push((indent, Cond { atoms: vec![] }));
                continue;
            }
            if let Some(flag) = flag_in(trimmed) {
                let atoms = stack.iter().flat_map(|(_, c)| c.atoms.clone()).collect();
                rules.push((Cond { atoms }, flag));
            }
        }
        (!rules.is_empty()).then_some(GencodeRules { rules })
    }

    /// The `-gencode` values for `archs` (flash-attn spellings: `80`, `90`,
    /// `100`) with nvcc at `cuda`, in `setup.py`'s order.
    pub fn flags(&self, archs: &[String], cuda: Option<CudaVersion>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (cond, flag) in &self.rules {
            if !cond.holds(archs, cuda) {
                continue;
            }
            let value = match flag {
                Flag::Literal(s) => s.clone(),
                Flag::PtxForNewest => {
                    let newest = archs
                        .iter()
                        .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()))
                        .max_by_key(|a| a.parse::<u32>().unwrap_or(0));
                    match newest {
                        Some(n) => format!("arch=compute_{n},code=compute_{n}"),
                        None => continue,
                    }
                }
            };
            if !out.contains(&value) {
                out.push(value);
            }
        }
        out
    }

    /// Every arch some rule tests for (`80`, `90`, `100`, `110`, `120`): the
    /// archs this `setup.py` knows how to build.
    pub fn known_archs(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules
            .iter()
            .flat_map(|(c, _)| c.atoms.iter())
            .filter_map(|(a, _)| match a {
                Atom::Arch(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        out.sort_by_key(|a| a.parse::<u32>().unwrap_or(u32::MAX));
        out.dedup();
        out
    }

    /// Whether the flags include PTX for the newest arch.
    pub fn adds_ptx(&self) -> bool {
        self.rules.iter().any(|(_, f)| *f == Flag::PtxForNewest)
    }
}

fn negate(c: &Cond) -> Cond {
    match c.atoms.as_slice() {
        [(a, n)] => Cond {
            atoms: vec![(a.clone(), !n)],
        },
        // `not (a and b)` is not a conjunction: unknown.
        _ => Cond {
            atoms: vec![(Atom::Unknown, false)],
        },
    }
}

fn parse_cond(text: &str) -> Cond {
    let atoms = text
        .split(" and ")
        .map(|part| (parse_atom(part.trim()), false))
        .collect();
    Cond { atoms }
}

fn parse_atom(text: &str) -> Atom {
    // A CUDA build (not ROCm, not an sdist-only run) with a toolkit.
    if [
        "CUDA_HOME is not None",
        "not SKIP_CUDA_BUILD",
        "not IS_ROCM",
        "not IS_HIP_EXTENSION",
        // main's guard of the PTX flag (any numeric arch): the flag itself
        // is dropped when there is none.
        "numeric",
    ]
    .contains(&text)
    {
        return Atom::True;
    }
    if let Some((lhs, rhs)) = text.split_once(" in ") {
        let rhs = rhs.trim();
        if rhs == "archs" || rhs == "cuda_archs()" {
            let a = lhs.trim().trim_matches('"').trim_matches('\'');
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()) {
                return Atom::Arch(a.to_string());
            }
        }
        return Atom::Unknown;
    }
    if let Some(rest) = text.strip_prefix("bare_metal_version >= Version(") {
        let v = rest
            .trim_end_matches(')')
            .trim_matches('"')
            .trim_matches('\'');
        if let Some(v) = CudaVersion::parse(v) {
            return Atom::CudaAtLeast(v);
        }
    }
    Atom::Unknown
}

/// The gencode flag a line holds, if any.
fn flag_in(line: &str) -> Option<Flag> {
    if line.contains("f\"arch=compute_{newest},code=compute_{newest}\"") {
        return Some(Flag::PtxForNewest);
    }
    let at = line.find("\"arch=compute_")?;
    let rest = &line[at + 1..];
    let end = rest.find('"')?;
    let lit = &rest[..end];
    (!lit.contains('{')).then(|| Flag::Literal(lit.to_string()))
}

/// `FLASH_ATTN_CUDA_ARCHS`'s default as `setup.py` writes it
/// (`os.getenv("FLASH_ATTN_CUDA_ARCHS", "80;90;100;110;120")`), if it does.
pub fn default_archs(setup_py: &str) -> Option<String> {
    let key = "\"FLASH_ATTN_CUDA_ARCHS\"";
    let at = setup_py.find(key)?;
    let rest = setup_py[at + key.len()..].trim_start().strip_prefix(',')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = include_str!("fixtures/flash-attn-main/setup.py");
    const V283: &str = include_str!("fixtures/flash-attn-2.8.3/setup.py");

    fn archs(list: &str) -> Vec<String> {
        list.split(';').map(str::to_string).collect()
    }

    #[test]
    fn main_setup_py_flags_follow_its_gencode_logic() {
        let rules = GencodeRules::parse(MAIN).unwrap();
        assert_eq!(default_archs(MAIN).as_deref(), Some("80;90;100;110;120"));
        assert_eq!(rules.known_archs(), archs("80;90;100;110;120"));
        assert!(rules.adds_ptx());
        // sm_90 alone on CUDA 13.0: SASS plus PTX for 90.
        assert_eq!(
            rules.flags(&archs("90"), CudaVersion::parse("13.0")),
            vec![
                "arch=compute_90,code=sm_90",
                "arch=compute_90,code=compute_90"
            ]
        );
        // The default list on 13.0: family targets, Thor as 110f, PTX for 120.
        assert_eq!(
            rules.flags(&archs("80;90;100;110;120"), CudaVersion::parse("13.0")),
            vec![
                "arch=compute_80,code=sm_80",
                "arch=compute_90,code=sm_90",
                "arch=compute_100f,code=sm_100",
                "arch=compute_120f,code=sm_120",
                "arch=compute_110f,code=sm_110",
                "arch=compute_120,code=compute_120",
            ]
        );
        // 12.8: no family targets yet, Thor as sm_101.
        assert_eq!(
            rules.flags(&archs("100;110"), CudaVersion::parse("12.8")),
            vec![
                "arch=compute_100,code=sm_100",
                "arch=compute_101,code=sm_101",
                "arch=compute_110,code=compute_110",
            ]
        );
        // 12.4: no Blackwell at all, still PTX for the newest asked.
        assert_eq!(
            rules.flags(&archs("90;100"), CudaVersion::parse("12.4")),
            vec![
                "arch=compute_90,code=sm_90",
                "arch=compute_100,code=compute_100"
            ]
        );
    }

    #[test]
    fn setup_py_2_8_3_flags_are_sass_only() {
        let rules = GencodeRules::parse(V283).unwrap();
        assert_eq!(default_archs(V283).as_deref(), Some("80;90;100;120"));
        assert_eq!(rules.known_archs(), archs("80;90;100;120"));
        assert!(!rules.adds_ptx());
        assert_eq!(
            rules.flags(&archs("80;90;100;120"), CudaVersion::parse("12.8")),
            vec![
                "arch=compute_80,code=sm_80",
                "arch=compute_90,code=sm_90",
                "arch=compute_100,code=sm_100",
                "arch=compute_120,code=sm_120",
            ]
        );
        assert_eq!(
            rules.flags(&archs("80;90;100"), CudaVersion::parse("11.8")),
            vec!["arch=compute_80,code=sm_80", "arch=compute_90,code=sm_90"]
        );
    }

    #[test]
    fn unknown_conditions_emit_nothing() {
        let text = "if os.getenv(\"X\"):\n    cc_flag += [\"-gencode\", \"arch=compute_75,code=sm_75\"]\nelse:\n    pass\n";
        let rules = GencodeRules::parse(text).unwrap();
        assert!(rules.flags(&archs("75"), None).is_empty());
        assert!(GencodeRules::parse("print('no flags')\n").is_none());
    }
}

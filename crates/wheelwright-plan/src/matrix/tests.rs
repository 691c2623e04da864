//! Unit tests of `plan --matrix`: the default matrix, filters, bad values and
//! skipping published wheels.

use super::*;

#[test]
fn the_default_is_flash_attns_publish_matrix() {
    let m = build_matrix(&MatrixRequest::default()).unwrap();
    // 4 Pythons × (2.6: 12.9 × 2 ABIs; 2.7, 2.8: 12.9; 2.9, 2.10: 12.9 and 13.0).
    assert_eq!(m.include.len(), 4 * (2 + 1 + 1 + 2 + 2));
    let c = m
        .include
        .iter()
        .find(|c| c.python == "3.12" && c.torch == "2.8")
        .unwrap();
    assert_eq!(c.cuda, "12.9");
    assert_eq!(c.torch_cuda, "12.9");
    assert_eq!(c.torch_index_url, "https://download.pytorch.org/whl/cu129");
    assert_eq!(c.variant, "cu12torch2.8cxx11abiTRUE");
    assert_eq!(
        c.wheel,
        "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    );
    assert_eq!(c.archs, "80;90;100;120");
    assert_eq!(c.runs_on, ["self-hosted", "linux", "x64", "cuda-12.9"]);
    // torch 2.8 has no CUDA 13 build: excluded, with the reason.
    assert!(m
        .excluded
        .iter()
        .any(|e| e.torch == "2.8" && e.cuda == "13.0" && e.reason.contains("12.6, 12.8, 12.9")));
    // Only torch 2.6 gets the old ABI.
    assert!(m
        .include
        .iter()
        .filter(|c| c.cxx11_abi == "FALSE")
        .all(|c| c.torch == "2.6"));
}

#[test]
fn filters_replace_axes_and_leave_out_what_pytorch_lacks() {
    let req = MatrixRequest {
        python: Some(vec!["3.11".into(), "3.12".into()]),
        torch: Some(vec!["2.8".into(), "2.9".into()]),
        cuda: Some(vec!["12.8".into(), "13.0".into()]),
        ..MatrixRequest::default()
    };
    let m = build_matrix(&req).unwrap();
    let cells: Vec<(String, String, String)> = m
        .include
        .iter()
        .map(|c| (c.python.clone(), c.torch.clone(), c.cuda.clone()))
        .collect();
    assert_eq!(cells.len(), 6, "{cells:?}");
    assert!(!cells.iter().any(|(_, t, c)| t == "2.8" && c == "13.0"));
    let c = m
        .include
        .iter()
        .find(|c| c.torch == "2.9" && c.cuda == "13.0")
        .unwrap();
    assert_eq!(c.variant, "cu13torch2.9cxx11abiTRUE");
    assert_eq!(c.torch_index_url, "https://download.pytorch.org/whl/cu130");
    // CUDA 12.4 cannot build sm_100/sm_120: those archs are dropped.
    let old = build_matrix(&MatrixRequest {
        torch: Some(vec!["2.6".into()]),
        cuda: Some(vec!["12.4".into()]),
        python: Some(vec!["3.10".into()]),
        ..MatrixRequest::default()
    })
    .unwrap();
    assert_eq!(old.include[0].archs, "80;90");
    assert_eq!(old.include.len(), 2, "both ABIs for torch 2.6");
}

#[test]
fn bad_values_and_empty_matrices_are_errors() {
    let bad = |r: MatrixRequest| build_matrix(&r).unwrap_err();
    assert!(matches!(
        bad(MatrixRequest {
            torch: Some(vec!["1.13".into()]),
            ..Default::default()
        }),
        MatrixError::BadValue { what: "torch", .. }
    ));
    assert!(matches!(
        bad(MatrixRequest {
            python: Some(vec!["2.7".into()]),
            ..Default::default()
        }),
        MatrixError::BadValue { what: "python", .. }
    ));
    assert!(matches!(
        bad(MatrixRequest {
            cuda: Some(vec!["x".into()]),
            ..Default::default()
        }),
        MatrixError::BadValue { what: "cuda", .. }
    ));
    assert!(matches!(
        bad(MatrixRequest {
            torch: Some(vec!["2.8".into()]),
            cuda: Some(vec!["13.0".into()]),
            ..Default::default()
        }),
        MatrixError::Empty(ref left) if left.len() == 4
    ));
}

#[test]
fn published_wheels_are_skipped_case_insensitively() {
    let mut m = build_matrix(&MatrixRequest::default()).unwrap();
    let before = m.include.len();
    let published: BTreeSet<String> =
        ["flash_attn-2.8.3+cu12torch2.8cxx11abitrue-cp312-cp312-linux_x86_64.whl".to_string()]
            .into();
    let dropped = m.skip_published(&published);
    assert_eq!(
        dropped,
        ["flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"]
    );
    assert_eq!(m.include.len(), before - 1);
    let json: serde_json::Value = serde_json::from_str(&m.github_json()).unwrap();
    assert_eq!(json["include"].as_array().unwrap().len(), before - 1);
    assert!(json.get("excluded").is_none());
    assert!(json["include"][0]["runs-on"].is_array());
}

#[test]
fn a_wheelhouse_of_published_wheels_is_skipped_with_a_note() {
    let mut m = build_matrix(&MatrixRequest::default()).unwrap();
    let before = m.include.len();
    let house = tempfile::tempdir().unwrap();
    std::fs::write(house.path().join(&m.include[0].wheel), b"").unwrap();
    let source = house.path().display().to_string();
    let note = m
        .skip_published_at(&source, &wheelwright_base::net::Offline)
        .unwrap();
    assert_eq!(
        note,
        format!(
            "wheelwright: 1 of {before} cells already published at {source}; {} left\n",
            before - 1
        )
    );
    let note = m.excluded_note();
    assert_eq!(note.lines().count(), m.excluded.len() + 1, "{note}");
}

/// A value given twice on an axis, or spelled twice (`2.8` and `2.8.0`, `13`
/// and `13.0`), counts once: each combination left out is listed once, and
/// [`MatrixError::Empty`] counts distinct combinations.
#[test]
fn repeated_axis_values_count_once() {
    let m = build_matrix(&MatrixRequest {
        python: Some(vec!["3.12".into(), " 3.12".into(), "3.14".into()]),
        torch: Some(vec!["2.8".into(), "2.8.0".into()]),
        cuda: Some(vec!["13.0".into(), "12.9".into(), "13".into()]),
        ..MatrixRequest::default()
    })
    .unwrap();
    assert_eq!(m.include.len(), 1);
    let left_out: Vec<(&str, &str, &str)> = m
        .excluded
        .iter()
        .map(|e| (e.python.as_str(), e.torch.as_str(), e.cuda.as_str()))
        .collect();
    assert_eq!(
        left_out,
        [
            ("3.12", "2.8", "13.0"),
            ("3.14", "2.8", "13.0"),
            ("3.14", "2.8", "12.9")
        ]
    );
    assert!(m
        .excluded_note()
        .starts_with("wheelwright: 3 combinations left out"));
    let none = build_matrix(&MatrixRequest {
        python: Some(vec!["3.12".into(), "3.12".into()]),
        torch: Some(vec!["2.8".into()]),
        cuda: Some(vec!["13.0".into(), "13.0".into()]),
        cxx11_abi: Some(vec![true, true]),
        ..MatrixRequest::default()
    });
    let Err(MatrixError::Empty(left)) = none else {
        panic!("{none:?}")
    };
    assert_eq!(left.len(), 1);
    let abis = build_matrix(&MatrixRequest {
        python: Some(vec!["3.12".into()]),
        torch: Some(vec!["2.8".into()]),
        cuda: Some(vec!["12.9".into()]),
        cxx11_abi: Some(vec![true, false, true]),
        ..MatrixRequest::default()
    })
    .unwrap();
    let abis: Vec<&str> = abis.include.iter().map(|c| c.cxx11_abi.as_str()).collect();
    assert_eq!(abis, ["TRUE", "FALSE"]);
}

/// Issue 27 item 3: two toolkits of one CUDA major make the same wheel file
/// (flash-attn names only `cu12`): one cell is kept, the newest toolkit's, and
/// the other is left out naming it; published-wheel skipping keys on the
/// same file name.
#[test]
fn cells_of_the_same_wheel_file_are_merged_with_the_reason() {
    let m = build_matrix(&MatrixRequest {
        python: Some(vec!["3.12".into()]),
        torch: Some(vec!["2.8".into()]),
        cuda: Some(vec!["12.9".into(), "12.8".into()]),
        ..MatrixRequest::default()
    })
    .unwrap();
    let cells: Vec<(&str, &str)> = m
        .include
        .iter()
        .map(|c| (c.cuda.as_str(), c.wheel.as_str()))
        .collect();
    assert_eq!(
        cells,
        [(
            "12.9",
            "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
        )]
    );
    assert_eq!(m.excluded.len(), 1);
    assert_eq!(m.excluded[0].cuda, "12.8");
    assert!(
        m.excluded[0].reason.starts_with(
            "makes the same wheel file as the CUDA 12.9 cell (flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-"
        ),
        "{}",
        m.excluded[0].reason
    );
    // Every wheel file of the default matrix is made by one cell.
    let m = build_matrix(&MatrixRequest::default()).unwrap();
    let wheels: BTreeSet<String> = m
        .include
        .iter()
        .map(|c| c.wheel.to_ascii_lowercase())
        .collect();
    assert_eq!(wheels.len(), m.include.len());
}

/// Issue 27 item 5: nothing left to build still says why each was left out.
#[test]
fn an_empty_matrix_says_why_each_combination_was_left_out() {
    let err = build_matrix(&MatrixRequest {
        python: Some(vec!["3.12".into()]),
        torch: Some(vec!["2.7".into()]),
        cuda: Some(vec!["12.2".into()]),
        ..MatrixRequest::default()
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no combination of the requested python, torch and CUDA can be built (1 left out):\n  python 3.12 torch 2.7 cuda 12.2: "),
        "{text}"
    );
    assert!(text.len() > 120, "the reason is there: {text}");
}

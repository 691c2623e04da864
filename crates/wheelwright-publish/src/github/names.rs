//! Asset names. flash-attn's own release assets spell the local label
//! `+cu{MAJOR}torch{X.Y}cxx11abi{TRUE|FALSE}`, and its `setup.py` and many
//! users' scripts build download URLs from that spelling; pip writes the label
//! in lower case (`...cxx11abitrue...`). Local labels compare
//! case-insensitively, so publishing under flash-attn's spelling names the
//! same version.

/// The name a wheel file is published under: flash-attn's spelling for
/// flash-attn's variant labels, the file's own name otherwise.
pub fn github_asset_name(file_name: &str) -> String {
    let Some(rest) = file_name.strip_prefix("flash_attn-") else {
        return file_name.to_string();
    };
    let Some((version, tail)) = rest.split_once('-') else {
        return file_name.to_string();
    };
    let Some((public, label)) = version.split_once('+') else {
        return file_name.to_string();
    };
    let lower = label.to_ascii_lowercase();
    let Some(pos) = lower.rfind("cxx11abi") else {
        return file_name.to_string();
    };
    let (head, abi) = lower.split_at(pos + "cxx11abi".len());
    let abi = match abi {
        "true" => "TRUE",
        "false" => "FALSE",
        _ => return file_name.to_string(),
    };
    if !head.starts_with("cu") || !head.contains("torch") {
        return file_name.to_string();
    }
    format!("flash_attn-{public}+{head}{abi}-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_attn_labels_get_flash_attns_spelling_others_are_kept() {
        // The wheel built on the H200 machine, as pip named it.
        assert_eq!(
            github_asset_name(
                "flash_attn-2.8.3+cu13torch2.11cxx11abitrue-cp312-cp312-linux_x86_64.whl"
            ),
            "flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
        );
        assert_eq!(
            github_asset_name(
                "flash_attn-2.8.3+cu12torch2.8cxx11abiFALSE-cp311-cp311-linux_aarch64.whl"
            ),
            "flash_attn-2.8.3+cu12torch2.8cxx11abiFALSE-cp311-cp311-linux_aarch64.whl"
        );
        for kept in [
            "flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl",
            "flash_attn-2.8.3+local-cp312-cp312-linux_x86_64.whl",
            "other-1.0+cu12torch2.8cxx11abitrue-py3-none-any.whl",
        ] {
            assert_eq!(github_asset_name(kept), kept);
        }
    }
}

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn short_tokens_of_the_builtin_variables_are_masked_by_value() {
    let (set, warnings) = SecretSet::from_env(
        env(&[
            ("GITHUB_TOKEN", "ghp_secret123"),
            ("TWINE_PASSWORD", "pypi-short"),
            ("TWINE_USERNAME", "__token__"),
            ("PATH", "/usr/bin:/bin"),
        ]),
        &[],
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(set.len(), 2);
    assert_eq!(
        set.mask("GITHUB_TOKEN=ghp_secret123 pass=pypi-short user=__token__ PATH=/usr/bin:/bin"),
        "GITHUB_TOKEN=*** pass=*** user=__token__ PATH=/usr/bin:/bin"
    );
}

#[test]
fn named_variables_and_the_list_variable_are_masked() {
    let (set, warnings) = SecretSet::from_env(
        env(&[
            ("MY_SECRET", "correct-horse"),
            ("WHEELWRIGHT_MASK_ENV", "OTHER, THIRD  MISSING"),
            ("OTHER", "battery-staple"),
            ("THIRD", "abc"),
        ]),
        &["MY_SECRET".to_string()],
    );
    assert_eq!(set.mask("correct-horse battery-staple abc"), "*** *** abc");
    assert_eq!(
        warnings,
        vec![
            MaskWarning::TooShort {
                name: "THIRD".into(),
                chars: 3
            },
            MaskWarning::Unset {
                name: "MISSING".into()
            },
        ]
    );
    for w in &warnings {
        assert!(
            !w.to_string().contains("abc"),
            "a warning shows no value: {w}"
        );
    }
}

#[test]
fn index_url_credentials_are_masked_raw_and_decoded() {
    let (set, warnings) = SecretSet::from_env(
        env(&[
            (
                "PIP_INDEX_URL",
                "https://ci:p%40ssw0rd!@pypi.example/simple",
            ),
            (
                "PIP_EXTRA_INDEX_URL",
                "https://a.example/simple https://tok3n-as-user@fury.example/o/",
            ),
            ("UV_INDEX", "internal=https://u:short@idx.example/"),
            ("HTTPS_PROXY", "http://proxy.example:3128"),
        ]),
        &[],
    );
    assert_eq!(
        set.mask("echo p@ssw0rd! p%40ssw0rd! tok3n-as-user ci proxy.example"),
        "echo *** *** *** ci proxy.example"
    );
    assert_eq!(
        warnings,
        vec![MaskWarning::TooShort {
            name: "UV_INDEX".into(),
            chars: 5
        }]
    );
}

#[test]
fn multiline_values_are_masked_line_by_line_and_longest_first() {
    let set = SecretSet::from_values(["line-one-of-key\nline-two-of-key", "abcdef", "abcdefgh"]);
    // `from_values` takes values as they are; `from_env` splits lines.
    assert_eq!(set.mask("abcdefgh abcdef"), "*** ***");
    let (set, _) = SecretSet::from_env(
        env(&[(
            "AWS_SECRET_ACCESS_KEY",
            "line-one-of-key\n  line-two-of-key\n",
        )]),
        &[],
    );
    assert_eq!(set.mask("line-two-of-key / line-one-of-key"), "*** / ***");
}

#[test]
fn masking_json_keeps_it_json_and_sees_through_escapes() {
    let set = SecretSet::from_values(["s3cr\"et\\x", "123456", "plain-secret"]);
    let value = serde_json::json!({
        "spec": "pkg @ https://h/?t=s3cr\"et\\x",
        "size": 123456,
        "notes": ["id 123456", "plain-secret"],
        "plain-secret": true,
    });
    let text = serde_json::to_string_pretty(&value).unwrap();
    let masked = set.mask_json_text(&text);
    let back: serde_json::Value = serde_json::from_str(&masked).unwrap();
    assert_eq!(back["spec"], "pkg @ https://h/?t=***");
    assert_eq!(back["size"], 123456, "a number is not a string: kept");
    assert_eq!(back["notes"], serde_json::json!(["id ***", "***"]));
    assert_eq!(back["***"], true);
    assert!(!masked.contains("plain-secret") && !masked.contains("s3cr"));
}

#[test]
fn masking_without_secrets_borrows() {
    let set = SecretSet::default();
    assert!(matches!(set.mask("nothing here"), Cow::Borrowed(_)));
    assert!(set.is_empty());
    let set = SecretSet::from_values(["12345", ""]);
    assert!(
        set.is_empty(),
        "values under {MIN_SECRET_CHARS} characters are left out"
    );
}

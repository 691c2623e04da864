//! Matcher tests on single lines: each form a rule reads, and the lines it must
//! not read.

use super::*;

fn loc(file: &str, line: u32) -> Location {
    Location {
        file: file.to_string(),
        line,
    }
}

#[test]
fn compile_error_locations() {
    let gcc = "csrc/flash_api.cpp:42:7: error: 'foo' was not declared in this scope";
    assert_eq!(
        classify(gcc),
        Some(Hit::CompileError {
            loc: loc("csrc/flash_api.cpp", 42),
            message: "'foo' was not declared in this scope".into()
        })
    );
    let nvcc = "      /tmp/x/csrc/cutlass/include/cute/numeric/math.hpp(299): error: identifier \"not\" is undefined";
    assert!(
        matches!(classify(nvcc), Some(Hit::CompileError { loc: l, .. }) if l == loc("/tmp/x/csrc/cutlass/include/cute/numeric/math.hpp", 299))
    );
    let windows = "C:/Users/Y/flash-attn/csrc/cutlass/include\\cute/numeric/math.hpp(299): error: expected a \")\"";
    assert!(matches!(classify(windows), Some(Hit::CompileError { loc: l, .. }) if l.line == 299));
    let docker = "89.49   cutlass/include/cutlass/cuda_host_adapter.hpp(146): error: identifier \"PFN_cuTensorMapEncodeTiled\" is undefined";
    assert!(
        matches!(classify(docker), Some(Hit::CompileError { loc: l, .. }) if l.file == "cutlass/include/cutlass/cuda_host_adapter.hpp")
    );
    let numbered = "kernel.cu(12): error #20011-D: calling a __host__ function from a __global__ function is not allowed";
    assert!(
        matches!(classify(numbered), Some(Hit::CompileError { loc: l, .. }) if l == loc("kernel.cu", 12))
    );
    let no_col = "foo.cpp:7: error: bad";
    assert!(
        matches!(classify(no_col), Some(Hit::CompileError { loc: l, .. }) if l == loc("foo.cpp", 7))
    );
    let error_h = "src/error.h:10:5: error: expected ';' before '}' token";
    assert!(
        matches!(classify(error_h), Some(Hit::CompileError { loc: l, .. }) if l == loc("src/error.h", 10))
    );
}

#[test]
fn not_compile_errors() {
    for line in [
        "csrc/error.h:12:3: warning: unused variable 'x' [-Wunused-variable]",
        "csrc/error_handling.cpp:3:1: note: in expansion of macro",
        "c++ -O3 -Werror=return-type -Wno-error=deprecated -c error_handling.cpp -o error_handling.o",
        "error: command '/usr/local/cuda/bin/nvcc' failed with exit code 1",
        "error: subprocess-exited-with-error",
        "collect2: error: ld returned 1 exit status",
        "RuntimeError: Error compiling objects for extension",
        "/usr/include/c++/12/system_error:1:1: note: here",
        "kernel.cu(12): warning #177-D: variable \"x\" was declared but never referenced",
        "  137 | #error -- unsupported GNU version! gcc versions later than 15 are not supported!",
        "      |  ^~~~~",
        "ERROR: Failed building wheel for flash-attn",
        "pip: error: no such option: --foo",
    ] {
        assert_eq!(classify(line), None, "{line}");
    }
}

#[test]
fn oom_forms() {
    let cases: &[(&str, Option<&str>, Option<&str>, bool)] = &[
        ("g++: fatal error: Killed signal terminated program cc1plus", Some("cc1plus"), None, true),
        ("x86_64-linux-gnu-g++-13: fatal error: Killed signal terminated program cc1plus", Some("cc1plus"), None, true),
        ("gcc: fatal error: Killed signal terminated program cc1", Some("cc1"), None, true),
        ("c++: internal compiler error: Killed (program cc1plus)", Some("cc1plus"), None, true),
        ("ptxas fatal   : Memory allocation failure", Some("ptxas"), None, true),
        ("nvcc error   : 'cicc' died due to signal 9 (Kill signal)", Some("cicc"), None, true),
        ("nvcc error   : 'ptxas' died due to signal 9 (Kill signal)", Some("ptxas"), None, true),
        ("FAILED: [code=137] /tmp/b/build/temp.linux-x86_64-cpython-312/csrc/flash_attn/src/flash_bwd_hdim128_bf16_sm80.o", None, Some("flash_bwd_hdim128_bf16_sm80.o"), true),
        ("collect2: fatal error: ld terminated with signal 9 [Killed]", Some("ld"), None, true),
        ("ninja: job terminated due to signal 9: cd /x && llvm-tblgen", None, None, true),
        ("/home/runner/work/_temp/a.sh: line 3:  4321 Killed                  /usr/bin/c++ -c x.cpp", Some("c++"), None, true),
        ("[12345.678] Out of memory: Killed process 4321 (cc1plus) total-vm:1kB", Some("cc1plus"), None, true),
        ("cc1plus: out of memory allocating 65536 bytes after a total of 1234 bytes", Some("cc1plus"), None, true),
        ("subprocess.CalledProcessError: Command '['ninja', '-v']' returned non-zero exit status 137.", None, None, false),
        ("      exit code: -9", None, None, false),
    ];
    for (line, tool, object, primary) in cases {
        let expected = Hit::Oom {
            tool: tool.map(str::to_string),
            object: object.map(str::to_string),
            primary: *primary,
        };
        assert_eq!(classify(line), Some(expected), "{line}");
    }
    assert_eq!(classify("Killed"), Some(Hit::BareKilled));
    for line in [
        "nvcc error   : 'cicc' died due to signal 11 (Invalid memory reference)",
        "exit status 1370",
        "Segmentation fault signal terminated program cc1plus",
        "test_worker_killed PASSED",
    ] {
        assert_eq!(classify(line), None, "{line}");
    }
}

#[test]
fn cuda_mismatch_forms() {
    let one = "RuntimeError: The detected CUDA version (12.2) mismatches the version that was used to compile PyTorch (13.0). Please make sure to use the same CUDA versions.";
    assert_eq!(
        classify(one),
        Some(Hit::CudaMismatch {
            nvcc: Some("12.2".into()),
            torch: Some("13.0".into())
        })
    );
    let tuple = "RuntimeError: ('The detected CUDA version (%s) mismatches the version that was used to compilePyTorch (%s). Please make sure to use the same CUDA versions.', '12.2', '13.0')";
    assert_eq!(
        classify(tuple),
        Some(Hit::CudaMismatch {
            nvcc: Some("12.2".into()),
            torch: Some("13.0".into())
        })
    );
    let first =
        "      The detected CUDA version (11.6) mismatches the version that was used to compile";
    assert_eq!(
        classify(first),
        Some(Hit::CudaMismatchStart {
            nvcc: Some("11.6".into())
        })
    );
    assert_eq!(
        cuda_mismatch_continuation(
            "      PyTorch (12.1). Please make sure to use the same CUDA versions."
        ),
        Some("12.1".into())
    );
}

#[test]
fn gcc_too_new_forms() {
    let nvcc = "/usr/local/cuda/include/crt/host_config.h:143:2: error: #error -- unsupported GNU version! gcc versions later than 12 are not supported!";
    assert_eq!(
        classify(nvcc),
        Some(Hit::GccTooNew {
            max_major: Some(12),
            compiler: None
        })
    );
    let torch = "RuntimeError: The current installed version of g++ (13.2.0) is greater than the maximum required version by CUDA 11.7. Please make sure to use an adequate version of g++ (>=6.0.0, <12.0).";
    assert_eq!(
        classify(torch),
        Some(Hit::GccTooNew {
            max_major: Some(11),
            compiler: Some("g++ 13.2.0".into())
        })
    );
}

#[test]
fn other_rules() {
    assert_eq!(
        classify("csrc/flash_attn/src/flash_fwd_kernel.h:13:10: fatal error: cute/tensor.hpp: No such file or directory"),
        Some(Hit::MissingSubmodule {
            header: Some("cute/tensor.hpp".into()),
            loc: Some(loc("csrc/flash_attn/src/flash_fwd_kernel.h", 13))
        })
    );
    assert!(matches!(
        classify("x.cpp:1:10: fatal error: Python.h: No such file or directory"),
        Some(Hit::CompileError { .. })
    ));
    assert_eq!(
        classify("nvcc fatal   : Unsupported gpu architecture 'compute_70'"),
        Some(Hit::ArchUnsupported {
            arch: "compute_70".into()
        })
    );
    assert_eq!(
        classify("ModuleNotFoundError: No module named 'torch'"),
        Some(Hit::TorchMissing)
    );
    assert_eq!(
        classify("ModuleNotFoundError: No module named 'torch._C'"),
        None
    );
    assert_eq!(
        classify("ImportError: /x/flash_attn_2_cuda.cpython-38-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"),
        Some(Hit::AbiMismatch {
            symbol: "_ZN3c104cuda9SetDeviceEi".into(),
            library: Some("flash_attn_2_cuda.cpython-38-x86_64-linux-gnu.so".into())
        })
    );
    assert_eq!(
        classify("cc1plus: fatal error: error writing to /tmp/ccA1.s: No space left on device"),
        Some(Hit::DiskFull {
            path: Some("/tmp/ccA1.s".into())
        })
    );
    assert_eq!(
        classify("RuntimeError: FlashAttention is only supported on CUDA 11.7 and above.  Note: make sure nvcc has a supported version by running nvcc -V."),
        Some(Hit::CudaTooOld { min: Some("11.7".into()) })
    );
    assert_eq!(
        classify("/x/cpp_extension.py:420: UserWarning: Attempted to use ninja as the BuildExtension backend but we could not find ninja.. Falling back to using the slow distutils backend."),
        Some(Hit::NinjaMissing { reason: Some("we could not find ninja".into()) })
    );
}

#[test]
fn context_lines() {
    assert_eq!(
        context("FAILED: [code=1] /b/build/temp/csrc/flash_attn/src/flash_fwd_hdim64_fp16_sm80.o "),
        Some(Context::Failed {
            object: "flash_fwd_hdim64_fp16_sm80.o".into()
        })
    );
    assert_eq!(
        context("ninja: job failed: /usr/bin/c++ -O2 -o obj/a.o -c a.cpp"),
        Some(Context::Failed {
            object: "a.o".into()
        })
    );
    assert_eq!(
        context("subprocess.CalledProcessError: Command '['ninja', '-v', '-j', '16']' returned non-zero exit status 1."),
        Some(Context::Jobs(16))
    );
    assert_eq!(
        context("  Getting requirements to build wheel ... error"),
        Some(Context::Isolation)
    );
}

mod byte_helpers {
    use proptest::prelude::*;

    use super::super::{basename, first_word};

    /// Text mixing ASCII, every ASCII whitespace, Unicode whitespace
    /// (U+0085, U+00A0, U+3000), other non-ASCII and path separators.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a",
                "x.o",
                " ",
                "\t",
                "\n",
                "\u{0B}",
                "\u{0C}",
                "\r",
                "\u{85}",
                "\u{A0}",
                "\u{3000}",
                "é",
                "ß",
                "/",
                "\\",
                "[code=137]",
                "",
            ]),
            0..12,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(crate::test_support::proptest_config(256))]

        /// The byte-wise helpers say what the `str` methods they replace say.
        #[test]
        fn first_word_and_basename_agree_with_str(s in text()) {
            prop_assert_eq!(first_word(&s), s.split_whitespace().next());
            prop_assert_eq!(basename(&s), s.rsplit(['/', '\\']).next().unwrap_or(&s));
        }
    }

    #[test]
    fn first_word_on_unicode_whitespace() {
        assert_eq!(first_word("  a.o\u{A0}b"), Some("a.o"));
        assert_eq!(first_word("\u{3000}a b"), Some("a"));
        assert_eq!(first_word(" \u{85} "), None);
        assert_eq!(first_word("é x"), Some("é"));
        assert_eq!(basename("a\\b/c.o"), "c.o");
    }
}

#[test]
fn compile_context_of_bytes_reads_them_as_lossy_text() {
    let cases: &[&[u8]] = &[
        b"/usr/local/cuda/bin/nvcc -c a.cu",
        b"c\xff++ x",
        b"x.o",
        b"x.o \xc2\xa0",
        b"x.\xffo",
        b"\xe2\x82",
        b"ninja: build stopped",
        b"Killed",
        b"",
    ];
    for raw in cases {
        let text = String::from_utf8_lossy(raw);
        assert_eq!(
            is_compile_context_bytes(raw),
            is_compile_context(&text),
            "{text:?}"
        );
    }
}

//! Golden tests of the capture rules (`mast-proxy istio-iptables --dry-run`), for the flag
//! sets of Istio's own `istio-iptables` cases and its sidecar injector. Regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p mast-proxy --test capture_rules`.

use std::path::PathBuf;

use clap::Parser;
use mast_proxy::capture::{Args, rules};

const CASES: &[(&str, &[&str])] = &[
    ("empty", &[]),
    ("injected-default", mast_test::netns::INJECTED_CAPTURE_FLAGS),
    ("inbound-ports-wildcard", &["-b", "*", "-d", "22"]),
    ("inbound-ports-include", &["-b", "32000,31000"]),
    ("ipnets", &["-i", "10.0.0.0/8"]),
    (
        "ip-range",
        &[
            "-i",
            "9.9.0.0/16",
            "-x",
            "1.1.0.0/16",
            "-u",
            "3,4",
            "-g",
            "1,2",
        ],
    ),
    ("kube-virt-interfaces", &["-i", "*", "-k", "eth1,eth2"]),
    (
        "outbound-ports-exclude",
        &["-i", "*", "-o", "8080,8443", "-x", "10.96.0.10"],
    ),
];

#[test]
fn rules_match_their_goldens() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/iptables");
    let mut failed = Vec::new();
    for (name, flags) in CASES {
        let args =
            Args::try_parse_from(std::iter::once("istio-iptables").chain(flags.iter().copied()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = rules(&args)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .commands();
        let path = dir.join(format!("{name}.golden"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
        if got != want {
            failed.push(format!("{name}:\n--- want\n{want}--- got\n{got}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

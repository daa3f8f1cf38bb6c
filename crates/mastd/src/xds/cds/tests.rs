use super::testkit::*;

#[test]
fn dump() {
    let snap = snapshot(BOOKINFO);
    for (n, j) in clusters_json(&snap, &productpage()) {
        println!("== {n}\n{}", serde_json::to_string_pretty(&j).unwrap());
    }
}

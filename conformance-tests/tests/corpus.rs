//! The suite's own reading of the shared corpus: every answer in accept/ that answers a
//! request also in accept/ (same transaction) passes the answer check.

use conformance_tests::answer::check_answer;
use conformance_tests::corpus::{load, shared_dir, Expectation};

#[test]
fn corpus_is_present_and_accepted_answers_are_well_formed() {
    let dir = shared_dir().join("conformance/bi");
    let corpus = load(&dir).unwrap_or_else(|e| panic!("corpus at {}: {e}", dir.display()));
    let accepted: Vec<_> = corpus
        .iter()
        .filter(|m| m.expectation == Expectation::Accept)
        .collect();
    assert!(
        accepted.len() >= 30,
        "expected the shared corpus, found {} messages",
        accepted.len()
    );
    let mut checked = 0;
    for answer in accepted.iter().filter_map(|m| m.json()) {
        let Some(answer_type) = answer["MessageType"].as_str() else {
            continue;
        };
        let Some(base) = answer_type.strip_suffix("Ans") else {
            continue;
        };
        // Pair with a request of the same exchange (type, transaction, parties), when the
        // corpus has one; the sources use unrelated test values otherwise.
        let same = |a: &serde_json::Value, b: &serde_json::Value| {
            a.as_str().map(str::to_ascii_lowercase) == b.as_str().map(str::to_ascii_lowercase)
        };
        let request = accepted.iter().filter_map(|m| m.json()).find(|r| {
            r["MessageType"] == format!("{base}Req")
                && r["TransactionID"] == answer["TransactionID"]
                && same(&r["ReceiverID"], &answer["SenderID"])
                && same(&r["SenderID"], &answer["ReceiverID"])
        });
        if let Some(request) = request {
            check_answer(&request, &answer).unwrap_or_else(|e| panic!("{answer_type}: {e}"));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} request/answer pairs found");
}

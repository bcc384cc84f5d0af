//! The questionnaire driven by scripted answers: it saves after every answer, resumes
//! where it stopped, and ends with the answers file and BenchRisk's submission text.

use std::io::Cursor;

fn sub() -> assay_risk::questionnaire::Submission {
    assay_risk::questionnaire::Submission::placeholders("2026-11-24")
}

#[test]
fn scripted_answers_fill_the_file_resume_and_end_with_the_submission() {
    let registry = assay_risk::shipped();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("MyBench.mdx");
    let total = registry.offered().len();

    // First sitting: an invalid answer, an explanation, y, n, a skip, then quit.
    let mut out = Vec::new();
    let script = "maybe\n?\ny\nn\ns\nq\n";
    let first = assay_risk::questionnaire::run(
        registry,
        "MyBench",
        &sub(),
        &path,
        &mut Cursor::new(script),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("`maybe` is not an answer"), "{text}");
    assert!(
        text.contains("If adopted, this cuts failure mode"),
        "{text}"
    );
    assert!(text.contains("== Stage (1) Task Definition =="), "{text}");
    assert_eq!(first.answered, 2);
    assert!(!first.complete());
    let saved = assay_risk::mdx::read_benchmark(&path).unwrap();
    assert_eq!(saved.adopted.len() + saved.absent.len(), 2);
    // The questions come by stage: the first one belongs to a stage-1 failure mode.
    let first_q = saved.adopted[0];
    let mode = registry
        .mode(registry.mitigation(first_q).unwrap().mode)
        .unwrap();
    assert_eq!(mode.stage, 1);

    // Second sitting: the skipped question comes back first; answer everything with a
    // pattern (y for even ids) until the input ends... then a third sitting finishes.
    let mut out = Vec::new();
    let script: String = (0..50).map(|_| "n\n").collect();
    let second = assay_risk::questionnaire::run(
        registry,
        "MyBench",
        &sub(),
        &path,
        &mut Cursor::new(script),
        &mut out,
    )
    .unwrap();
    assert_eq!(second.answered, 52);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("2 answered already"), "{text}");
    assert!(
        text.contains("Run the same command again to continue"),
        "{text}"
    );

    let mut out = Vec::new();
    let script: String = (0..total)
        .map(|i| if i % 3 == 0 { "y\n" } else { "n\n" })
        .collect();
    let third = assay_risk::questionnaire::run(
        registry,
        "MyBench",
        &sub(),
        &path,
        &mut Cursor::new(script),
        &mut out,
    )
    .unwrap();
    assert!(third.complete(), "{third:?}");
    let text = String::from_utf8(out).unwrap();
    let saved = assay_risk::mdx::read_benchmark(&path).unwrap();
    // Every offered mitigation is in exactly one list.
    let mut all: Vec<u32> = saved.adopted.iter().chain(&saved.absent).copied().collect();
    all.sort_unstable();
    let offered: Vec<u32> = registry.offered().iter().map(|m| m.id).collect();
    assert_eq!(all, offered);
    assert!(
        registry.check_answers(&saved).is_empty(),
        "{:?}",
        registry.check_answers(&saved)
    );
    // The submission text is exactly the answers file's front matter and body.
    let submission = assay_risk::mdx::benchmark_mdx(&saved);
    assert!(text.contains(&format!("```\n{submission}```")), "{text}");
    assert!(
        submission.starts_with("---\nname: MyBench\nadoptedMitigations:\n"),
        "{submission}"
    );
    // The scores printed are the scorer's.
    let s = assay_risk::score(registry, &saved.adopted);
    assert!(text.contains(&format!(
        "minimum {}",
        assay_risk::score::display_integer(s.minimum)
    )));
}

#[test]
fn answers_for_another_benchmark_are_refused() {
    let registry = assay_risk::shipped();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mdx");
    assay_risk::questionnaire::run(
        registry,
        "A",
        &sub(),
        &path,
        &mut Cursor::new("y\nq\n"),
        &mut Vec::new(),
    )
    .unwrap();
    let err = assay_risk::questionnaire::run(
        registry,
        "B",
        &sub(),
        &path,
        &mut Cursor::new(""),
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("holds answers for `A`, not `B`"), "{err}");
}

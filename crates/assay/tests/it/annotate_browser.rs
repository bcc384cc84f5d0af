//! `assay annotate` end to end in a real headless Chromium: two annotators vote through
//! the page (one by clicking, one by keyboard), the server is killed mid-way and
//! restarted without losing a vote, answers carrying HTML and script payloads show as
//! plain text, and the votes export to a battle log that `assay rank` ranks and whose
//! agreement figures match the votes cast.

use headless_chrome::{Browser, Tab};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOADS: [&str; 3] = [
    "<script>window.__pwned = 1</script>",
    "<img src=x onerror=\"window.__pwned = 2\">",
    "</pre><b id=\"injected\">bold</b><pre>",
];
const CONTESTANTS: [&str; 3] = ["good", "mid", "bad"];

/// A run directory as `assay pairwise` writes it, with hostile answers.
pub(crate) fn write_run(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let spec = serde_json::json!({
        "schema": 1,
        "contestants": CONTESTANTS.iter().map(|c| serde_json::json!({"name": c})).collect::<Vec<_>>(),
    });
    std::fs::write(dir.join("run.json"), spec.to_string()).unwrap();
    let prompts = [
        serde_json::json!({"id": "p1", "prompt": "Say <iframe src=\"javascript:alert(1)\"></iframe> hello"}),
        serde_json::json!({"id": "p2", "prompt": "Name a colour & a number < 10."}),
    ];
    std::fs::write(
        dir.join("prompts.jsonl"),
        prompts.iter().map(|p| format!("{p}\n")).collect::<String>(),
    )
    .unwrap();
    let mut journal = String::new();
    for (k, p) in ["p1", "p2"].iter().enumerate() {
        for (i, c) in CONTESTANTS.iter().enumerate() {
            let text = format!("{}: {}", c.to_uppercase(), PAYLOADS[(i + k) % 3]);
            journal.push_str(
                &serde_json::json!({"kind": "answer", "contestant": c, "prompt_id": p, "text": text, "tokens": 9, "finish_reason": "end_of_sequence"})
                    .to_string(),
            );
            journal.push('\n');
        }
    }
    // The judge: prefers the first position always (so it agrees with people half the time).
    for p in ["p1", "p2"] {
        for (i, x) in CONTESTANTS.iter().enumerate() {
            for y in &CONTESTANTS[i + 1..] {
                for (first, second) in [(x, y), (y, x)] {
                    journal.push_str(
                        &serde_json::json!({"kind": "game", "prompt_id": p, "first": first, "second": second, "verdict": "a_better"})
                            .to_string(),
                    );
                    journal.push('\n');
                }
            }
        }
    }
    std::fs::write(dir.join("journal.jsonl"), journal).unwrap();
}

struct Server {
    child: Child,
    urls: Vec<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `assay annotate RUN` for these annotators on a free port: (name, link) for each
/// annotator, then ("progress", the organiser's link), as printed.
fn serve(run: &Path, annotators: &[&str]) -> Server {
    let mut args = vec!["annotate", run.to_str().unwrap(), "--port", "0"];
    for a in annotators {
        args.extend(["--annotator", a]);
    }
    let mut child = crate::common::command()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    // Every line is read: a closed pipe would end the server at its next line.
    for _ in 0..=annotators.len() {
        let line = lines.next().unwrap().unwrap();
        let (name, url) = line.split_once(": ").unwrap();
        urls.push((name.to_owned(), url.to_owned()));
    }
    assert_eq!(urls[annotators.len()].0, "progress");
    Server { child, urls }
}

fn eval(tab: &Tab, js: &str) -> serde_json::Value {
    tab.evaluate(js, false)
        .unwrap()
        .value
        .unwrap_or(serde_json::Value::Null)
}

fn wait_for(tab: &Tab, js: &str) {
    let start = Instant::now();
    while eval(tab, js) != serde_json::Value::Bool(true) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {js}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rank_of(text: &str) -> usize {
    CONTESTANTS
        .iter()
        .position(|c| text.starts_with(&format!("{}:", c.to_uppercase())))
        .unwrap()
}

/// Votes until the page says done or `limit` votes are cast; returns the votes cast.
fn annotate(tab: &Tab, keyboard: bool, limit: usize) -> usize {
    wait_for(
        tab,
        "['ready','done'].includes(document.body.dataset.state)",
    );
    let mut cast = 0;
    while cast < limit && eval(tab, "document.body.dataset.state") == "ready" {
        let left = eval(tab, "document.getElementById('left').textContent");
        let right = eval(tab, "document.getElementById('right').textContent");
        let (left, right) = (left.as_str().unwrap(), right.as_str().unwrap());
        // Model text is shown verbatim, never interpreted.
        assert!(PAYLOADS.iter().any(|p| left.ends_with(p)), "{left}");
        assert_eq!(
            eval(
                tab,
                "window.__pwned === undefined && document.getElementById('injected') === null && document.querySelector('iframe') === null"
            ),
            true
        );
        let prompt = eval(tab, "document.getElementById('prompt').textContent");
        assert!(
            prompt.as_str().unwrap().contains("<iframe")
                || prompt.as_str().unwrap().contains("< 10")
        );
        let (l, r) = (rank_of(left), rank_of(right));
        let item = eval(tab, "document.body.dataset.item");
        // Both annotators prefer the better contestant; bob calls mid-vs-bad a tie and
        // prefers mid to good on p2 (an upset, so the comparison graph connects).
        let on_p2 = prompt.as_str().unwrap().contains("< 10");
        let choice = if keyboard && l + r == 3 {
            "3"
        } else if keyboard && on_p2 && l + r == 1 {
            if l > r { "1" } else { "2" }
        } else if l < r {
            "1"
        } else {
            "2"
        };
        if keyboard {
            tab.press_key(choice).unwrap();
        } else {
            let id = match choice {
                "1" => "#vote-left",
                "2" => "#vote-right",
                _ => "#vote-tie",
            };
            tab.find_element(id).unwrap().click().unwrap();
        }
        cast += 1;
        wait_for(
            tab,
            &format!(
                "document.body.dataset.state === 'done' || (document.body.dataset.state === 'ready' && document.body.dataset.item !== {item})"
            ),
        );
        assert_eq!(
            eval(
                tab,
                "Number(document.getElementById('progress').dataset.done)"
            ),
            serde_json::json!(cast_so_far(tab))
        );
    }
    cast
}

fn cast_so_far(tab: &Tab) -> usize {
    eval(
        tab,
        "Number(document.getElementById('progress').dataset.done)",
    )
    .as_u64()
    .unwrap() as usize
}

fn open(browser: &Browser, url: &str) -> Arc<Tab> {
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(url).unwrap();
    tab.wait_until_navigated().unwrap();
    tab
}

#[test]
fn two_annotators_vote_in_chromium_and_the_votes_rank() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run);
    let browser = crate::common::browser();

    // Alice clicks two votes, then the server dies (kill -9) ...
    let server = serve(&run, &["alice", "bob"]);
    let urls = server.urls.clone();
    let alice = open(&browser, &urls[0].1);
    assert_eq!(urls[0].0, "alice");
    assert_eq!(annotate(&alice, false, 2), 2);
    drop(server);
    // ... and comes back: the same links, alice's two votes kept.
    let server = serve(&run, &["alice", "bob"]);
    let token = |u: &(String, String)| u.1.split_once("token=").unwrap().1.to_owned();
    assert_eq!(
        server.urls.iter().map(token).collect::<Vec<_>>(),
        urls.iter().map(token).collect::<Vec<_>>(),
        "tokens are kept in the store"
    );
    let urls = server.urls.clone();
    let alice = open(&browser, &urls[0].1);
    wait_for(&alice, "document.body.dataset.state === 'ready'");
    assert_eq!(cast_so_far(&alice), 2);
    assert_eq!(
        eval(&alice, "document.getElementById('progress').textContent"),
        "2 of 6 done"
    );
    assert_eq!(annotate(&alice, false, 100), 4);
    assert_eq!(eval(&alice, "document.body.dataset.state"), "done");
    // Bob uses the keyboard.
    let bob = open(&browser, &urls[1].1);
    assert_eq!(annotate(&bob, true, 100), 6);
    // A wrong token gets a clear message, not the items.
    let stranger = open(&browser, &urls[0].1.replace("token=", "token=x"));
    wait_for(&stranger, "document.body.dataset.state === 'error'");
    assert!(
        eval(&stranger, "document.getElementById('status').textContent")
            .as_str()
            .unwrap()
            .contains("unknown access token")
    );
    drop(server);

    let votes = dir.path().join("votes.csv");
    let o = crate::common::command()
        .args([
            "annotate",
            run.to_str().unwrap(),
            "--export",
            votes.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(&votes).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12);
    assert_eq!(csv.lines().filter(|l| l.contains(",tie,")).count(), 2);

    let o = crate::common::command()
        .args([
            "rank",
            votes.to_str().unwrap(),
            "--format",
            "csv",
            "--rounds",
            "100",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ranking = String::from_utf8_lossy(&o.stdout);
    let order: Vec<&str> = ranking
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(order, ["good", "mid", "bad"], "{ranking}");

    let o = crate::common::command()
        .args([
            "annotate",
            run.to_str().unwrap(),
            "--agreement",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let between = &a["between_annotators"][0];
    // Labels (x = the earlier contestant): alice x×6; bob x×3, y×1, tie×2.
    // p_o = 3/6; p_e = 1·3/6 → kappa 0.
    assert_eq!(between["items"], 6);
    assert!((between["agreement"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!(between["cohen_kappa"].as_f64().unwrap().abs() < 1e-12);
    // The judge picks the first position in both orders, so its label is always a tie.
    let pooled = a["judge_vs_people"].as_array().unwrap().last().unwrap();
    assert_eq!(pooled["items"], 12);
    assert!((pooled["agreement"].as_f64().unwrap() - 2.0 / 12.0).abs() < 1e-12);
}

/// The page's aids, in Chromium: the reference answer is shown for a prompt that has
/// one (and hidden for one that does not), an answer cut by the token limit is marked,
/// skip puts an item off until the others are done, undo takes back the last vote (its
/// item comes back), the organiser's progress page counts each annotator's votes and
/// skips, and no console error is raised. The printed links work as printed.
#[test]
fn reference_cut_answers_skip_undo_and_the_progress_page() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    write_run(&run);
    // p1 has a reference answer; `bad`'s answers ran into the token limit.
    let prompts = [
        serde_json::json!({"id": "p1", "prompt": "Say hello", "reference": "Hello <b>there</b>"}),
        serde_json::json!({"id": "p2", "prompt": "Name a colour & a number < 10."}),
    ];
    std::fs::write(
        run.join("prompts.jsonl"),
        prompts.iter().map(|p| format!("{p}\n")).collect::<String>(),
    )
    .unwrap();
    let journal = std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.contains("\"contestant\":\"bad\"") {
                l.replace("end_of_sequence", "length")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(run.join("journal.jsonl"), journal).unwrap();

    let server = serve(&run, &["carol"]);
    let carol = server.urls[0].1.clone();
    let progress = server.urls[1].1.clone();
    assert!(carol.starts_with("http://127.0.0.1:"), "{carol}");

    let browser = crate::common::browser();
    let tab = browser.new_tab().unwrap();
    let errors = crate::common::console_errors(&tab);
    tab.navigate_to(&carol).unwrap();
    tab.wait_until_navigated().unwrap();
    wait_for(&tab, "document.body.dataset.state === 'ready'");
    crate::common::screenshot(&tab, "annotate");
    let number = |js: &str| eval(&tab, js).as_u64().unwrap();
    let done = || number("Number(document.getElementById('progress').dataset.done)");
    let skipped = || number("Number(document.getElementById('progress').dataset.skipped)");
    let item = || eval(&tab, "document.body.dataset.item");
    let check_aids = || {
        let prompt = eval(&tab, "document.getElementById('prompt').textContent");
        let reference_shown = eval(&tab, "!document.getElementById('reference-box').hidden");
        if prompt == "Say hello" {
            assert_eq!(reference_shown, true);
            assert_eq!(
                eval(&tab, "document.getElementById('reference').textContent"),
                "Hello <b>there</b>"
            );
        } else {
            assert_eq!(reference_shown, false);
        }
        for side in ["left", "right"] {
            let text = eval(
                &tab,
                &format!("document.getElementById('{side}').textContent"),
            );
            let cut = eval(
                &tab,
                &format!("!document.getElementById('{side}-cut').hidden"),
            );
            assert_eq!(
                cut,
                text.as_str().unwrap().starts_with("BAD:"),
                "{side}: {text}"
            );
        }
    };
    check_aids();
    assert_eq!(eval(&tab, "document.getElementById('undo').disabled"), true);

    // Skip the first item: another comes, nothing is counted as done.
    let first = item();
    tab.find_element("#skip").unwrap().click().unwrap();
    wait_for(
        &tab,
        &format!(
            "document.body.dataset.state === 'ready' && document.body.dataset.item !== {first}"
        ),
    );
    assert_eq!((done(), skipped()), (0, 1));
    // Vote, then undo: the vote is taken back and its item is shown again.
    let voted = item();
    tab.find_element("#vote-left").unwrap().click().unwrap();
    wait_for(
        &tab,
        &format!(
            "document.body.dataset.state === 'ready' && document.body.dataset.item !== {voted}"
        ),
    );
    assert_eq!(done(), 1);
    tab.press_key("u").unwrap();
    wait_for(
        &tab,
        &format!(
            "document.body.dataset.state === 'ready' && document.body.dataset.item === {voted}"
        ),
    );
    assert_eq!(done(), 0);
    // Vote through everything: the skipped item comes last.
    let mut seen = Vec::new();
    while eval(&tab, "document.body.dataset.state") == "ready" {
        check_aids();
        let now = item();
        seen.push(now.clone());
        tab.press_key("1").unwrap();
        wait_for(
            &tab,
            &format!(
                "document.body.dataset.state === 'done' || (document.body.dataset.state === 'ready' && document.body.dataset.item !== {now})"
            ),
        );
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen.last(),
        Some(&first),
        "the skipped item comes back last"
    );
    assert_eq!((done(), skipped()), (6, 0));

    // The organiser's page.
    let page = browser.new_tab().unwrap();
    let page_errors = crate::common::console_errors(&page);
    page.navigate_to(&progress).unwrap();
    page.wait_until_navigated().unwrap();
    let row = page
        .evaluate(
            "JSON.stringify([...document.querySelectorAll('#progress-table tbody tr')].map(r => ({...r.dataset})))",
            false,
        )
        .unwrap()
        .value
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(row.as_str().unwrap()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["annotator"], "carol");
    assert_eq!(rows[0]["done"], "6");
    assert_eq!(rows[0]["skipped"], "0");
    // Without the organiser's token, no page.
    let stranger = open(&browser, &progress.replace("token=", "token=x"));
    let body = stranger
        .evaluate("document.body.textContent", false)
        .unwrap()
        .value
        .unwrap();
    assert!(
        body.as_str().unwrap().contains("organiser's link"),
        "{body}"
    );
    drop(server);
    for e in [errors, page_errors] {
        assert!(
            e.lock().unwrap().is_empty(),
            "console errors: {:?}",
            e.lock().unwrap()
        );
    }
}

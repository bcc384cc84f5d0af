//! `--apply-chat-template` with a model that has no chat template is refused before any
//! work, leaving the output directory as it was; once scoring would have gone ahead
//! without the template while the results said it was applied.

use assay_core::{
    ChatMessage, GenerateRequest, GenerateResponse, LanguageModel, LoglikelihoodRequest,
    LoglikelihoodResponse, ModelError, ModelIdentity, RollingRequest, RollingResponse,
};
use assay_tasks::{Selection, Task, TaskSource};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A model that counts what it is asked and may or may not have a chat template.
struct Stub {
    template: bool,
    calls: AtomicUsize,
}

impl LanguageModel for Stub {
    fn identity(&self) -> ModelIdentity {
        ModelIdentity {
            name: "stub".into(),
            backend: "test".into(),
            source: "memory".into(),
            sha256: None,
            settings: Default::default(),
        }
    }
    fn loglikelihood(
        &self,
        requests: &[LoglikelihoodRequest],
    ) -> Result<Vec<LoglikelihoodResponse>, ModelError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(requests
            .iter()
            .map(|r| LoglikelihoodResponse {
                logprob: -(r.continuation.len() as f64),
                is_greedy: false,
                tokens: 1,
            })
            .collect())
    }
    fn loglikelihood_rolling(
        &self,
        _: &[RollingRequest],
    ) -> Result<Vec<RollingResponse>, ModelError> {
        Err(ModelError::Unsupported("rolling"))
    }
    fn generate(&self, _: &[GenerateRequest]) -> Result<Vec<GenerateResponse>, ModelError> {
        Err(ModelError::Unsupported("generation"))
    }
    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        if self.template {
            Ok(format!("<user>{}</user><assistant>", messages[0].content))
        } else {
            Err(ModelError::Unsupported("chat templates"))
        }
    }
}

fn task(dir: &std::path::Path) -> Task {
    std::fs::write(
        dir.join("mc.toml"),
        r#"name = "mc"
description = "test"
output = "multiple_choice"
metrics = ["acc"]
[data]
path = "mc.jsonl"
format = "jsonl"
[prompt]
input = "{{ q }}"
choices = "choices"
target = "label"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("mc.jsonl"),
        "{\"q\": \"pick\", \"choices\": [\"a\", \"bbb\"], \"label\": 0}\n",
    )
    .unwrap();
    let source = TaskSource::resolve(dir.join("mc.toml").to_str().unwrap()).unwrap();
    Task::load(source, dir, None, Selection::All).unwrap()
}

fn config(out: &std::path::Path) -> assay_eval::RunConfig {
    assay_eval::RunConfig {
        output_dir: out.to_owned(),
        name: None,
        apply_chat_template: true,
        selection: "all".into(),
        command: vec![],
        threads: 1,
        batch_size: 1,
        assay_version: "test".into(),
        git_revision: "test".into(),
        gates: vec![],
        baseline: None,
        ailuminate_reference: None,
    }
}

#[test]
fn a_missing_chat_template_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = [task(dir.path())];
    let out = dir.path().join("out");
    let model = Stub {
        template: false,
        calls: AtomicUsize::new(0),
    };
    let e = assay_eval::run(&model, &tasks, &config(&out), &mut assay_rundir::Quiet)
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "--apply-chat-template: model `stub` has no chat template it can apply \
         (chat templates is not supported by this model); run without --apply-chat-template"
    );
    assert_eq!(model.calls.load(Ordering::Relaxed), 0);
    assert!(!out.exists(), "the output directory was touched");

    // With a template, the prompts carry it and the results say so.
    let model = Stub {
        template: true,
        calls: AtomicUsize::new(0),
    };
    let finished =
        assay_eval::run(&model, &tasks, &config(&out), &mut assay_rundir::Quiet).unwrap();
    assert!(finished.results.spec.apply_chat_template);
    let samples = std::fs::read_to_string(finished.dir.join("samples/mc.jsonl")).unwrap();
    assert!(
        samples.contains("<user>pick</user><assistant>"),
        "{samples}"
    );
}

//! An LLM judge as a grader: a rubric rendered with the prompt, the answer and any
//! reference, asked of any assay model (embedded, a GGUF file, or a served one) with
//! greedy decoding, and its reply read strictly ([`assay_grade::judge`]). The judge
//! names itself with the model and a hash of the rubric, so a changed rubric is a
//! different grader in every result.

use assay_core::{ChatMessage, GenerateRequest, LanguageModel};
use assay_grade::{GradeError, Graded, Grader, GraderId, Verdict};
use assay_tasks::spec::JudgeSpec;
use std::sync::Arc;

pub struct Judge {
    model: Arc<dyn LanguageModel>,
    spec: JudgeSpec,
    rubric_hash: String,
    /// The template environment with the rubric compiled once (as `rubric`), or why it
    /// does not compile (callers check rubrics before; this keeps `new` infallible).
    env: Result<minijinja::Environment<'static>, String>,
}

/// Gives every task that LLM judges score (`[[judge]]` tables, a `judge` grader) its
/// judges, all asking `model`.
pub fn connect(tasks: &mut [assay_tasks::Task], model: &Arc<dyn LanguageModel>) {
    for task in tasks.iter_mut() {
        if let Some(spec) = task.needs_judge_grader().cloned() {
            task.set_grader(Arc::new(Judge::new(model.clone(), spec)));
        }
        let specs = task.needs_judges().to_vec();
        if specs.is_empty() {
            continue;
        }
        let judges = specs
            .into_iter()
            .map(|spec| Arc::new(Judge::new(model.clone(), spec)) as Arc<dyn assay_grade::Grader>)
            .collect();
        task.set_judges(judges);
    }
}

impl Judge {
    pub fn new(model: Arc<dyn LanguageModel>, spec: JudgeSpec) -> Self {
        let rubric_hash = assay_rundir::sha256_hex(spec.rubric.as_bytes())[..12].to_owned();
        let mut env = assay_tasks::prompt::environment();
        let env = env
            .add_template_owned("rubric", spec.rubric.clone())
            .map(|()| env)
            .map_err(|e| e.to_string());
        Self {
            model,
            spec,
            rubric_hash,
            env,
        }
    }

    fn prompt(&self, item: Graded<'_>) -> Result<String, GradeError> {
        let unrenderable = |e: &dyn std::fmt::Display| {
            GradeError::Unavailable(format!("the rubric does not render: {e}"))
        };
        let env = self.env.as_ref().map_err(|e| unrenderable(e))?;
        let text = env
            .get_template("rubric")
            .and_then(|t| {
                t.render(minijinja::context! {
                    prompt => item.prompt,
                    response => item.response,
                    reference => item.reference,
                })
            })
            .map_err(|e| unrenderable(&e))?;
        // A chat model reads the rubric as a user's message; a model without a chat
        // template (a base model, or a chat API that applies its own) takes it as is.
        Ok(self
            .model
            .apply_chat_template(&[ChatMessage::user(text.clone())])
            .unwrap_or(text))
    }
}

impl Grader for Judge {
    fn id(&self) -> GraderId {
        GraderId {
            name: format!("judge:{}", self.spec.name),
            version: format!(
                "{}; rubric sha256:{}",
                self.model.identity().name,
                self.rubric_hash
            ),
        }
    }

    fn grade(&self, item: Graded<'_>) -> Result<Verdict, GradeError> {
        let request = GenerateRequest {
            context: self.prompt(item)?,
            until: Vec::new(),
            max_tokens: self.spec.max_tokens,
            temperature: 0.0,
            seed: None,
        };
        let reply = self
            .model
            .generate(std::slice::from_ref(&request))
            .map_err(|e| GradeError::Unavailable(e.to_string()))?
            .pop()
            .ok_or_else(|| GradeError::Unavailable("the judge gave no answer".into()))?
            .text;
        match self.spec.scale {
            Some([lo, hi]) => {
                let rating = assay_grade::judge::parse_rating(&reply, lo, hi)?;
                Ok(Verdict {
                    label: rating.to_string(),
                    score: (rating - lo) / (hi - lo),
                    rationale: Some(reply),
                })
            }
            None => {
                let label = assay_grade::judge::parse_label(&reply, &self.spec.labels)?;
                Ok(Verdict {
                    label: label.to_owned(),
                    score: f64::from(u8::from(self.spec.flagged.iter().any(|f| f == label))),
                    rationale: Some(reply),
                })
            }
        }
    }
}

//! Reading a trace file back: every line parsed and hashed; each chosen machine rebuilt from
//! its setup line and driven through its steps by the core's [`Replayer`], every output
//! checked as recorded; the footer checked against the lines; the decisions in domain words.

use super::EnvEvent;
use quiesce_core::controller::Controller;
use quiesce_core::trace::{
    Chain, Footer, Header, Line, Machine, MachineId, ReplayError, Replayer, Step, StepOutcome,
};
use quiesce_core::worker::{Worker, WorkerOutput};
use quiesce_core::{
    ControllerSetup, Generation, Input, Output, Time, WorkerEvent, WorkerId, WorkerSetup,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::btree_map::Entry as Slot;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Which machines a replay rebuilds: `all`, `controller` or `worker:W/G`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Only {
    /// Every machine of the trace.
    #[default]
    All,
    /// This one.
    Machine(MachineId),
}

impl Only {
    /// Parses `all`, `controller` or `worker:W/G` (slot W, generation G).
    pub fn parse(text: &str) -> Result<Only, String> {
        let bad = || format!("{text:?} is not all, controller or worker:W/G");
        match text {
            "all" => Ok(Only::All),
            "controller" => Ok(Only::Machine(MachineId::Controller)),
            _ => {
                let (w, g) = text
                    .strip_prefix("worker:")
                    .and_then(|wg| wg.split_once('/'))
                    .ok_or_else(bad)?;
                let worker = WorkerId(w.trim().parse().map_err(|_| bad())?);
                let generation = Generation(g.trim().parse().map_err(|_| bad())?);
                Ok(Only::Machine(MachineId::Worker { worker, generation }))
            }
        }
    }

    fn includes(self, machine: MachineId) -> bool {
        self == Only::All || self == Only::Machine(machine)
    }
}

/// One line of the timeline: when, who, the machine's state after it, what it decided, and
/// on what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When.
    pub at: Time,
    /// The machine, or `env`.
    pub who: String,
    /// The machine's state after the step.
    pub state: String,
    /// The decision (or what the environment did).
    pub decision: String,
    /// The input or timeout it answered.
    pub cause: String,
}

/// A trace replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// The machines rebuilt, with how many steps each replayed (every output as recorded).
    pub machines: BTreeMap<MachineId, u64>,
    /// Every machine the trace holds.
    pub present: Vec<MachineId>,
    /// Lines read.
    pub lines: u64,
    /// The footer, checked; `None` for a trace cut short.
    pub footer: Option<Footer>,
    /// The decisions, in order.
    pub timeline: Vec<Entry>,
}

impl Replayed {
    /// Steps replayed over every machine rebuilt.
    pub fn steps(&self) -> u64 {
        self.machines.values().sum()
    }

    /// What was replayed, in one line.
    pub fn summary(&self) -> String {
        let footer = match &self.footer {
            Some(f) => format!("footer hash {} checked, outcome {:?}", f.hash, f.outcome),
            None => "no footer: the trace was cut short".into(),
        };
        format!(
            "replayed {} steps of {} of the trace's {} machines from {} lines, every output as \
             recorded; {footer}",
            self.steps(),
            self.machines.len(),
            self.present.len(),
            self.lines
        )
    }

    /// The timeline for people, one decision a line.
    pub fn timeline_text(&self) -> String {
        let mut out = String::new();
        for e in &self.timeline {
            let at = crate::scenario::seconds(e.at.0);
            let _ = write!(
                out,
                "{at:>12}  {:<24} {:<24} {}",
                e.who, e.state, e.decision
            );
            if !e.cause.is_empty() {
                let _ = write!(out, "  <- {}", e.cause);
            }
            out.push('\n');
        }
        out
    }
}

/// Replays a trace file, every machine of it (see [`replay_machines`]).
pub fn replay_text(text: &str) -> Result<Replayed, String> {
    replay_machines(text, Only::All)
}

/// Replays a trace file: every line must parse (a line that does not is named by its
/// number), the format must be this core's, each chosen machine must produce exactly the
/// outputs recorded (a step that does not is named by its line and machine), and the footer
/// must match the lines before it.
pub fn replay_machines(text: &str, only: Only) -> Result<Replayed, String> {
    let mut reader = Reader {
        only,
        chain: Chain::new(),
        header: None,
        footer: None,
        controllers: BTreeMap::new(),
        workers: BTreeMap::new(),
        present: Vec::new(),
        timeline: Vec::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        reader.line(i as u64 + 1, raw)?;
    }
    reader.finish()
}

struct Reader {
    only: Only,
    chain: Chain,
    header: Option<Header>,
    footer: Option<Footer>,
    controllers: BTreeMap<MachineId, Replayer<Controller>>,
    workers: BTreeMap<MachineId, Replayer<Worker>>,
    present: Vec<MachineId>,
    timeline: Vec<Entry>,
}

/// A line whose machine type does not matter (header, environment, footer).
type AnyLine = Line<Controller, EnvEvent>;

/// The controller's steps in a trace file, in order (for `shrink`, which re-runs them).
pub fn controller_steps(text: &str) -> Result<Vec<Step<Input>>, String> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let value: Value =
            serde_json::from_str(raw).map_err(|e| format!("line {n}: not a trace line: {e}"))?;
        let is_step = value.get("type").and_then(Value::as_str) == Some("step");
        if is_step && value.get("machine").and_then(Value::as_str) == Some("controller") {
            if let Line::Step(s) = parse::<Line<Controller, EnvEvent>>(n, value)? {
                steps.push(s.step);
            }
        }
    }
    Ok(steps)
}

impl Reader {
    fn line(&mut self, n: u64, raw: &str) -> Result<(), String> {
        if self.footer.is_some() {
            return Err(format!("line {n}: nothing may follow the footer"));
        }
        let value: Value =
            serde_json::from_str(raw).map_err(|e| format!("line {n}: not a trace line: {e}"))?;
        if self.header.is_none() {
            return self.header(n, value);
        }
        match value.get("type").and_then(Value::as_str) {
            Some("setup" | "step") => self.machine_line(n, value),
            _ => match parse::<AnyLine>(n, value)? {
                Line::Env(env) => {
                    self.chain.push(&Line::<Controller, _>::Env(env.clone()));
                    if self.only == Only::All && !matches!(env.event, EnvEvent::Scenario { .. }) {
                        self.timeline.push(Entry {
                            at: env.at,
                            who: "env".into(),
                            state: String::new(),
                            decision: env.event.to_string(),
                            cause: String::new(),
                        });
                    }
                    Ok(())
                }
                Line::Footer(footer) => self.footer(n, footer),
                Line::Header(_) => Err(format!("line {n}: a second header")),
                Line::Setup(_) | Line::Step(_) => Err(format!("line {n}: a machine line")),
            },
        }
    }

    fn header(&mut self, n: u64, value: Value) -> Result<(), String> {
        let Line::Header(header) = parse::<AnyLine>(n, value)? else {
            return Err(format!("line {n}: a trace begins with its header line"));
        };
        // The core decides which formats it reads.
        let line = AnyLine::Header(header.clone());
        Replayer::<Controller>::new()
            .line(line.clone())
            .map_err(|e| format!("line {n}: {e}"))?;
        self.chain.push(&line);
        self.header = Some(header);
        Ok(())
    }

    fn machine_line(&mut self, n: u64, value: Value) -> Result<(), String> {
        let machine: MachineId = value
            .get("machine")
            .cloned()
            .ok_or_else(|| format!("line {n}: a setup or step line names its machine"))
            .and_then(|m| parse(n, m))?;
        if !self.present.contains(&machine) {
            self.present.push(machine);
        }
        if cfg!(not(feature = "mutants")) && value.pointer("/setup/mutant").is_some() {
            return Err(format!(
                "line {n}: {machine} runs a planted bug, and this binary was built without the \
                 `mutants` feature: run it through sim/quiesce-sim"
            ));
        }
        let chosen = self.only.includes(machine);
        let header = self.header.clone();
        let at = Place {
            n,
            chosen,
            header,
            chain: &mut self.chain,
            timeline: &mut self.timeline,
        };
        match machine {
            MachineId::Controller => at.take(&mut self.controllers, machine, parse(n, value)?),
            MachineId::Worker { .. } => at.take(&mut self.workers, machine, parse(n, value)?),
        }
    }

    fn footer(&mut self, n: u64, footer: Footer) -> Result<(), String> {
        let read = (self.chain.lines(), self.chain.digest());
        let recorded = (footer.lines, footer.hash);
        if read != recorded {
            let e = ReplayError::<Controller>::FooterMismatch { recorded, read };
            return Err(format!("line {n}: {e}"));
        }
        self.footer = Some(footer);
        Ok(())
    }

    fn finish(self) -> Result<Replayed, String> {
        if self.header.is_none() {
            return Err("the trace is empty".into());
        }
        if let Only::Machine(m) = self.only {
            if !self.present.contains(&m) {
                let present: Vec<String> = self.present.iter().map(|m| m.to_string()).collect();
                return Err(format!(
                    "the trace holds no {m} (it holds: {})",
                    present.join(", ")
                ));
            }
        }
        let mut machines = BTreeMap::new();
        finished(self.controllers, &mut machines)?;
        finished(self.workers, &mut machines)?;
        Ok(Replayed {
            machines,
            present: self.present,
            lines: self.chain.lines() + u64::from(self.footer.is_some()),
            footer: self.footer,
            timeline: self.timeline,
        })
    }
}

fn parse<T: DeserializeOwned>(n: u64, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("line {n}: not a trace line: {e}"))
}

/// Where a machine's line is read: its number, whether its machine is replayed, and what
/// it goes into.
struct Place<'a> {
    n: u64,
    chosen: bool,
    header: Option<Header>,
    chain: &'a mut Chain,
    timeline: &'a mut Vec<Entry>,
}

impl Place<'_> {
    /// Hashes the line and, if its machine is replayed, replays it: a setup line starts the
    /// machine's replayer (which reads the trace's header first, as if the trace were the
    /// machine's alone), a step line goes to the replayer its setup started.
    fn take<M: Readable>(
        self,
        replayers: &mut BTreeMap<MachineId, Replayer<M>>,
        machine: MachineId,
        line: Line<M, EnvEvent>,
    ) -> Result<(), String> {
        let n = self.n;
        self.chain.push(&line);
        if !self.chosen {
            return Ok(());
        }
        let r = match replayers.entry(machine) {
            Slot::Occupied(r) => r.into_mut(),
            Slot::Vacant(_) if !matches!(line, Line::Setup(_)) => {
                return Err(format!(
                    "line {n}: a step of {machine} before its setup line"
                ));
            }
            Slot::Vacant(v) => {
                let mut r = Replayer::<M>::new();
                if let Some(h) = self.header {
                    r.line(Line::<M, EnvEvent>::Header(h))
                        .map_err(|e| format!("line {n}: {}", M::error_text(machine, e)))?;
                }
                v.insert(r)
            }
        };
        feed(r, n, line, self.timeline)
    }
}

/// The steps each replayer replayed, once every line is read.
fn finished<M: Readable>(
    replayers: BTreeMap<MachineId, Replayer<M>>,
    steps: &mut BTreeMap<MachineId, u64>,
) -> Result<(), String> {
    for (id, r) in replayers {
        let replayed = r.finish().map_err(|e| M::error_text(id, e))?;
        steps.insert(id, replayed.steps);
    }
    Ok(())
}

/// Replays one line of a machine, and adds its decisions to the timeline.
fn feed<M: Readable>(
    r: &mut Replayer<M>,
    n: u64,
    line: Line<M, EnvEvent>,
    timeline: &mut Vec<Entry>,
) -> Result<(), String> {
    let (machine, at, cause, rejected, outputs) = match &line {
        Line::Setup(s) => (
            s.machine,
            M::started(&s.setup),
            M::built(&s.setup),
            None,
            s.outputs.clone(),
        ),
        Line::Step(s) => {
            let (at, cause) = match &s.step {
                Step::Input { at, input } => (*at, M::input_text(input)),
                Step::Timeout { at } => (*at, "a deadline".to_string()),
                _ => (Time(0), "a call".to_string()),
            };
            (s.machine, at, cause, s.rejected.clone(), s.outputs.clone())
        }
        _ => return Ok(()),
    };
    r.line(line)
        .map_err(|e| format!("line {n}: {}", M::error_text(machine, e)))?;
    let state = r.machine().map(M::state_text).unwrap_or_default();
    let decisions = rejected
        .iter()
        .map(M::rejected_text)
        .chain(outputs.iter().filter_map(M::decision));
    for decision in decisions {
        timeline.push(Entry {
            at,
            who: machine.to_string(),
            state: state.clone(),
            decision,
            cause: cause.clone(),
        });
    }
    Ok(())
}

/// What a reader needs of a machine to tell its story in domain words.
trait Readable: Machine {
    fn started(setup: &Self::Setup) -> Time;
    fn built(setup: &Self::Setup) -> String;
    fn state_text(&self) -> String;
    /// The outputs worth a timeline line; the rest (messages, writes) follow from them.
    fn decision(output: &Self::Output) -> Option<String>;
    fn output_text(output: &Self::Output) -> String;
    fn input_text(input: &Self::Input) -> String;
    fn rejected_text(rejected: &Self::Rejected) -> String;
    fn setup_error_text(e: &Self::SetupError) -> String;

    fn outcome_text(o: &StepOutcome<Self::Output, Self::Rejected>) -> String {
        match &o.rejected {
            Some(r) => Self::rejected_text(r),
            None if o.outputs.is_empty() => "no output".into(),
            None => {
                let outputs: Vec<String> = o.outputs.iter().map(Self::output_text).collect();
                outputs.join("; ")
            }
        }
    }

    fn error_text(machine: MachineId, e: ReplayError<Self>) -> String {
        match e {
            ReplayError::Diverged(d) => format!(
                "{machine} diverged at its step {}: the trace says [{}], replaying gives [{}]",
                d.step,
                Self::outcome_text(&d.expected),
                Self::outcome_text(&d.actual)
            ),
            ReplayError::Misplaced { found, .. } => {
                format!("a {found} line of {machine} cannot come here")
            }
            ReplayError::Setup(e) => format!(
                "the setup of {machine} builds no machine: {}",
                Self::setup_error_text(&e)
            ),
            ReplayError::OtherMachine {
                found, expected, ..
            } => format!("a line of {found} names itself {expected}"),
            other => format!("{machine}: {other:?}"),
        }
    }
}

impl Readable for Controller {
    fn started(setup: &ControllerSetup) -> Time {
        setup.start
    }
    fn built(setup: &ControllerSetup) -> String {
        match &setup.restore {
            Some(_) => "built from a restore point".into(),
            None => "built".into(),
        }
    }
    fn state_text(&self) -> String {
        self.state().to_string()
    }
    fn decision(output: &Output) -> Option<String> {
        match output {
            Output::Event(_)
            | Output::StartWorkers { .. }
            | Output::StopWorkers { .. }
            | Output::ReleaseWorkers { .. } => Some(output.to_string()),
            _ => None,
        }
    }
    fn output_text(output: &Output) -> String {
        output.to_string()
    }
    fn input_text(input: &Input) -> String {
        input.to_string()
    }
    fn rejected_text(rejected: &quiesce_core::Rejected) -> String {
        rejected.to_string()
    }
    fn setup_error_text(e: &quiesce_core::SetupError) -> String {
        e.to_string()
    }
}

impl Readable for Worker {
    fn started(setup: &WorkerSetup) -> Time {
        setup.start
    }
    fn built(setup: &WorkerSetup) -> String {
        match &setup.restore {
            Some(r) => format!("started from checkpoint epoch {}", r.epoch.0),
            None => "started from the beginning".into(),
        }
    }
    fn state_text(&self) -> String {
        let mut phases: BTreeMap<String, usize> = BTreeMap::new();
        for t in self.status().tasks {
            *phases.entry(t.phase.to_string()).or_default() += 1;
        }
        let phases: Vec<String> = phases
            .into_iter()
            .map(|(p, n)| if n == 1 { p } else { format!("{p} x{n}") })
            .collect();
        phases.join(", ")
    }
    fn decision(output: &WorkerOutput) -> Option<String> {
        match output {
            WorkerOutput::ToController(m) if m.event != WorkerEvent::Heartbeat => {
                Some(output.to_string())
            }
            WorkerOutput::Commit { .. } => Some(output.to_string()),
            _ => None,
        }
    }
    fn output_text(output: &WorkerOutput) -> String {
        output.to_string()
    }
    fn input_text(input: &quiesce_core::WorkerInput) -> String {
        input.to_string()
    }
    fn rejected_text(rejected: &quiesce_core::worker::WorkerRejected) -> String {
        format!("rejected: {rejected}")
    }
    fn setup_error_text(e: &quiesce_core::worker::WorkerError) -> String {
        e.to_string()
    }
}

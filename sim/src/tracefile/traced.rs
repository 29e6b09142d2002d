//! A machine of a run, writing its lines onto the run's tape: through the core's recorder
//! when the trace is kept, hashed only (the same way) in a sweep.

use super::{EnvEvent, Tape};
use quiesce_core::trace::{Line, Machine, MachineId, Recorder, SetupLine};
use quiesce_core::Time;
use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};

/// A machine of the run, driven like the machine itself (call, poll the outputs, sleep until
/// the deadline), whose every line goes onto the run's [`Tape`]: through the core's
/// [`Recorder`] when the tape keeps the text; otherwise only into the run's hash, the same
/// way, without the recorder's own running hash of its lines (which would double a sweep's
/// cost).
pub enum Traced<M: Machine> {
    /// Every line hashed onto the tape, nothing kept.
    Hashed(Hashing<M>),
    /// Every line recorded onto the tape.
    Recorded(Recorder<M, Tape, EnvEvent>),
}

/// A machine whose steps go into the run's hash only.
pub struct Hashing<M: Machine> {
    machine: M,
    id: MachineId,
    /// Outputs not yet polled.
    pending: VecDeque<M::Output>,
    tape: Tape,
}

impl<M: Machine> Traced<M>
where
    M::Input: Hash,
    M::Output: Hash,
    M::Rejected: Hash,
{
    /// Builds the machine into the run's trace: its setup line goes onto the tape.
    pub fn join(setup: M::Setup, tape: Tape) -> Result<Traced<M>, M::SetupError> {
        if tape.keeps_text() {
            return Recorder::join(setup, tape).map(Traced::Recorded);
        }
        let mut machine = M::build(&setup)?;
        let id = M::id(&setup);
        let outputs: Vec<M::Output> = std::iter::from_fn(|| machine.poll_output()).collect();
        let line = Line::<M, EnvEvent>::Setup(SetupLine {
            machine: id,
            setup,
            outputs,
        });
        tape.push(&line);
        let pending = match line {
            Line::Setup(s) => s.outputs.into(),
            _ => VecDeque::new(),
        };
        Ok(Traced::Hashed(Hashing {
            machine,
            id,
            pending,
            tape,
        }))
    }

    /// Hands an input to the machine.
    pub fn handle(&mut self, now: Time, input: M::Input) -> Result<(), M::Rejected> {
        match self {
            Traced::Recorded(r) => r.handle(now, input),
            Traced::Hashed(m) => {
                let h = m.begin(now, Some(&input));
                let result = m.machine.handle(now, input);
                m.end(h, result.as_ref().err());
                result
            }
        }
    }

    /// Tells the machine the time.
    pub fn handle_timeout(&mut self, now: Time) {
        match self {
            Traced::Recorded(r) => r.handle_timeout(now),
            Traced::Hashed(m) => {
                let h = m.begin(now, None);
                m.machine.handle_timeout(now);
                m.end(h, None);
            }
        }
    }

    /// The next output to carry out.
    pub fn poll_output(&mut self) -> Option<M::Output> {
        match self {
            Traced::Recorded(r) => r.poll_output(),
            Traced::Hashed(m) => m.pending.pop_front(),
        }
    }

    /// The machine's next deadline.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.machine().poll_timeout()
    }

    /// The machine, for reading its state.
    pub fn machine(&self) -> &M {
        match self {
            Traced::Recorded(r) => r.machine(),
            Traced::Hashed(m) => &m.machine,
        }
    }
}

impl<M: Machine> Hashing<M>
where
    M::Input: Hash,
    M::Output: Hash,
    M::Rejected: Hash,
{
    /// A step's content up to its input, in the order the tape hashes a step line (the input
    /// goes to the machine next, so it is hashed first).
    fn begin(&self, now: Time, input: Option<&M::Input>) -> DefaultHasher {
        let mut h = self.tape.hasher();
        (self.id, now, input).hash(&mut h);
        h
    }

    /// The rest of the step's content (its refusal and outputs) into the run's hash; the
    /// outputs are kept to be polled.
    fn end(&mut self, mut h: DefaultHasher, rejected: Option<&M::Rejected>) {
        let machine = &mut self.machine;
        let outputs: Vec<M::Output> = std::iter::from_fn(|| machine.poll_output()).collect();
        (rejected, &outputs[..]).hash(&mut h);
        self.tape.set_hash(h.finish());
        self.pending.extend(outputs);
    }
}

/*
 * quiesce -- Promela model of the controller and its environment.
 *
 * Checked by specs/check; the properties, their names and the revert variants are listed in
 * specs/PROPERTIES.md.
 *
 * What is modelled:
 *   - the controller: Scheduling, Running, CheckpointStopping, StopJob(Graceful|Immediate),
 *     StopWorkers, Recovering, Finishing and the terminal Stopped, Finished, Failed;
 *     generations, epochs, checkpoints (barriers -> acks -> persist -> commit -> cleanup),
 *     stop escalation, recovery with a restart budget, the end of input;
 *   - 2 workers x 2 tasks: worker w hosts a source (task 2w) and a two-phase-commit sink
 *     (task 2w+1).  Tasks ack barriers, commit, finish, report the end of their input,
 *     fail a checkpoint, fail, hang; workers crash, or lose their heartbeats while they keep
 *     running (zombies); the network may hold a worker's message and deliver it late;
 *   - the scheduler (slow, failing then succeeding, losing a kill request) and the metadata
 *     store (slow, failing);
 *   - the timers: each is a flag; an armed timer may expire at any moment (time is
 *     abstract), and expiring disarms it;
 *   - the user, who sends stop requests of any mode at any moment: repeated, weaker and
 *     escalating ones, and asks for checkpoints on demand.
 *
 * The controller is deterministic: each input is one atomic step (a d_step), as in
 * Controller::handle / handle_timeout of the Rust core.  All nondeterminism belongs to the
 * environment: which input comes next, and which faults happen, within a budget of MAXF
 * faults per execution.  Slowness costs nothing: it is an interleaving where a timer
 * expires first.
 *
 * A worker does the work its tasks have due in one step per kind of work (every task's part
 * is still tracked: acks, commits and finishes carry a mask of tasks), and its message
 * reaches the controller in the same step -- unless the network holds it (a fault): then
 * it waits in the worker's one-message outbox, the worker can send nothing more until it
 * is delivered (FIFO), and it may arrive arbitrarily late, even after the worker was killed
 * and the next generation started: that is where stale-generation messages come from.
 * The network may also reorder (a fault): a task's finish overtakes the ack or commit its
 * worker sent just before it, which is then held and delivered later.
 * Messages to workers land in their inbox at once: the tasks that have the newest barrier
 * due (an abort clears it), the sinks that have a commit due, the stop mode each worker was
 * sent.
 *
 * Revert variants: -DREVERT_<NAME> re-introduces a known controller bug; each must fail the
 * property named for it in specs/check.
 */

/* ------------------------------------------------------------------ configuration */

#ifndef MAXF
#define MAXF 2          /* faults in one execution                                      */
#endif
/* NREQ: stop requests that change something, in one execution; left undefined, there is
   no bound (each raises the stop level, so there are at most 4 anyway) */
#ifndef BUDGET
#define BUDGET 2        /* restarts allowed: generations 1 .. BUDGET + 1                 */
#endif
/* EOI: defined, sources may reach the end of their input, so the job can finish */
#ifndef NCREQ
#define NCREQ 0         /* checkpoint requests (on demand) in one execution               */
#endif
#define MAXEP 3         /* epochs in one execution; the last is kept for a final         */
                        /* checkpoint, so periodic ones use epochs below MAXEP           */
#define TOL 1           /* tolerable consecutive checkpoint failures                     */
#define FRETRIES 1      /* re-asks of a kill that was not confirmed                      */
#define KEEP 1          /* completed checkpoints kept; older ones are cleaned up         */

#define NW 2
#define NT 4
#define ALLT 15         /* every task                                                    */
#define SRC 5           /* sources: tasks 0 and 2                                        */
#define SNK 10          /* two-phase-commit sinks: tasks 1 and 3                         */
#define BIT(x) (1 << (x))
#define WTASKS(w) (3 << (2 * (w)))
#define SRCT(w) (2 * (w))
#define SNKT(w) (2 * (w) + 1)

/* controller states */
#define SCHEDULING   1
#define RUNNING      2
#define CKSTOP       3  /* CheckpointStopping                                            */
#define STOPJOB      4  /* Stopping(StopJob(sjmode))                                     */
#define STOPWORKERS  5  /* Stopping(StopWorkers)                                         */
#define RECOVERING   6
#define FINISHING    7
#define STOPPED      8
#define FINISHED     9
#define FAILED      10
#define terminal (st >= STOPPED)
#define FINAL_PHASE (st == CKSTOP || st == FINISHING)
/* the final checkpoint is in flight: its barrier, its persist or its commits */
#define FINAL_IN_FLIGHT (cp_final || (final_done && commit_pend != 0))
/* no checkpoint (its commits included) and no cleanup in flight */
#define CKPT_IDLE (cp == CP_NONE && commit_pend == 0 && !cleanup)

/* a checkpoint asked for on demand: started at once, or queued behind the one in flight */
#define R_NOW    1
#define R_QUEUED 2

/* stop modes, in escalation order; also the stop level */
#define M_NONE  0
#define M_CKPT  1
#define M_GRACE 2
#define M_IMM   3
#define M_FORCE 4

/* stage of the checkpoint in flight (its commits are tracked by commit_pend) */
#define CP_NONE    0
#define CP_BARRIER 1    /* barriers sent, waiting for every task's ack                   */
#define CP_PERSIST 2    /* every task acked, metadata being persisted                    */

/* requests to the scheduler */
#define S_NONE  0
#define S_START 1
#define S_STOP  2

/* workers and tasks */
#define W_DEAD    0
#define W_UP      1
#define W_SILENT  2     /* running, but its heartbeats no longer arrive                 */
#define W_CRASHED 3
#define T_DEAD   0
#define T_RUN    1
#define T_EOI    2      /* a source at the end of its input: still answers barriers     */
#define T_DONE   3
#define T_FAILED 4
#define T_HUNG   5

/* worker -> controller messages: kind, generation, worker (READY) or tasks (a mask),
   epoch, and the tasks that finished right after (piggybacked TaskFinished) */
#define MSG_READY       1
#define MSG_ACK         2
#define MSG_CKPT_FAILED 3
#define MSG_COMMITTED   4
#define MSG_FINISHED    5
#define MSG_FAILED      6
#define MSG_INPUT_ENDED 7

/* ------------------------------------------------------------------ controller state */

byte st = SCHEDULING;   /* state                                                         */
byte gen = 1;           /* current generation                                            */
byte restarts;          /* restarts used                                                 */
byte level;             /* stop level: the strongest stop in force (a stop mode)         */
byte sjmode;            /* StopJob mode: M_GRACE or M_IMM                                */
byte epoch;             /* last epoch started; never reused, across generations too      */
byte cp;                /* stage of the checkpoint in flight                             */
bool cp_final;          /* ... it is the final one (then_stop)                           */
byte acks;              /* tasks that acked it                                           */
byte done_ep;           /* last completed (persisted) epoch: the restore point           */
byte commit_pend;       /* sinks that have not acknowledged Commit(done_ep)              */
byte fails;             /* consecutive checkpoint failures                               */
byte ready;             /* workers of this generation that reported Ready                */
byte fin;               /* tasks of this generation that ended (finished or failed)      */
byte inend;             /* sources of this generation that reported the end of input     */
byte fretries;          /* kill re-asks used                                             */
bool final_done;        /* the final checkpoint is persisted                             */
bool stopped_ok;        /* Recovering: the old generation's workers are confirmed dead   */
bool cleanup;           /* a cleanup of old epochs is under way                          */
bool creq;              /* a checkpoint asked for waits for the one in flight (one at most) */

/* effects waiting for their completion */
byte persist_req;       /* PersistMetadata(epoch) asked of the store                     */
byte sreq = S_START;    /* request to the scheduler                                      */
byte sreq_gen = 1;      /* ... for this generation                                       */

/* timers */
bool t_int;             /* checkpoint interval                                           */
bool t_ckpt;            /* checkpoint timeout: a periodic checkpoint, its commits too    */
bool t_final;           /* final checkpoint (CheckpointStopping, Finishing)              */
bool t_stop;            /* stop timeout (StopJob)                                        */
bool t_force;           /* kill: confirmation due, or re-ask                             */
bool t_sched = 1;       /* scheduling timeout                                            */
bool t_back;            /* restart backoff                                               */
bool t_hb[NW];          /* heartbeat, per worker                                         */

/* worker inboxes */
byte bdue;              /* tasks that have the newest barrier (epoch `epoch`) due        */
bool bfin;              /* ... and it is the final one (then_stop)                       */
byte cdue;              /* sinks that have a Commit(done_ep) due                         */
byte mb_stop[NW];       /* the stop mode each worker was sent                            */

/* ------------------------------------------------------------------ environment state */

byte wst[NW];           /* worker process                                                */
byte wgen[NW];          /* its generation                                                */
bool wready[NW];        /* it has sent Ready                                             */
byte ts[NT];            /* task                                                          */
byte hk[NW];            /* outbox: kind of the held message (0: empty)                   */
byte hg[NW];            /*         generation                                            */
byte hm[NW];            /*         worker or tasks                                       */
byte hep[NW];           /*         epoch                                                 */
byte hfm[NW];           /*         tasks finished right after                            */
byte faults;            /* faults so far                                                 */
byte ncreq;             /* checkpoint requests accepted so far                           */
#ifdef NREQ
byte nreq;              /* effective stop requests so far                                */
#endif
#ifdef REVERT_LEVEL_FROM_REQUESTS
byte umode;             /* the strongest mode the user asked for                         */
#endif

/* ------------------------------------------------------------------ ghosts (properties) */

byte inflight;          /* checkpoints started, neither completed nor aborted            */
byte g_last_ep;         /* last epoch a checkpoint was started with                      */
byte g_durable;         /* newest epoch whose metadata the store made durable            */
bool g_final_fail;      /* a task failed or a worker was lost in a final checkpoint      */
byte g_told;            /* tasks whose end (finished or failed) the controller was told  */
                        /* of since it last started listening to the workers             */
byte g_req;             /* the checkpoint in flight was asked for: R_NOW, R_QUEUED       */
byte g_req_done;        /* requested checkpoints completed: R_NOW and R_QUEUED bits      */
bool bad_epoch, bad_commit, bad_periodic, bad_esc, bad_imm, bad_term, bad_stale;
bool bad_twogen, bad_dead;

/* scratch: not part of the state */
hidden byte mk, mg, mi, me, mf, he, hx, hf;
hidden byte req;        /* mode of a stop request that must change something             */
hidden byte was_term, was_stale, was_st, was_level;
hidden int s1, s2, s3, n1, n2, n3;

/* ------------------------------------------------------------------ observation */

/* the controller's whole state, packed: an input that must change nothing is checked
   against it */
inline snap(a, b, c) {
  a = st + 16 * gen + 64 * restarts + 256 * level + 2048 * sjmode + 8192 * epoch +
      65536 * cp + 262144 * cp_final + 524288 * acks + 8388608 * done_ep +
      33554432 * stopped_ok + 67108864 * final_done + 134217728 * cleanup;
  b = commit_pend + 16 * fails + 64 * ready + 256 * fin + 4096 * fretries +
      16384 * persist_req + 65536 * sreq + 262144 * sreq_gen +
      1048576 * (t_int + 2 * t_ckpt + 4 * t_final + 8 * t_stop + 16 * t_force +
                 32 * t_sched + 64 * t_back + 128 * t_hb[0] + 256 * t_hb[1]);
  c = bdue + 16 * bfin + 32 * cdue + 512 * mb_stop[0] + 4096 * mb_stop[1] +
      32768 * inflight + 131072 * inend + 2097152 * creq
}

/* counterexample replays (spin -t) print these lines; the search ignores them */
inline say_state() {
  if
  :: st == SCHEDULING -> printf("      => Scheduling (generation %d)\n", gen)
  :: st == RUNNING -> printf("      => Running (generation %d)\n", gen)
  :: st == CKSTOP -> printf("      => CheckpointStopping\n")
  :: st == STOPJOB && sjmode == M_GRACE -> printf("      => StopJob(Graceful)\n")
  :: st == STOPJOB && sjmode == M_IMM -> printf("      => StopJob(Immediate)\n")
  :: st == STOPWORKERS -> printf("      => StopWorkers\n")
  :: st == RECOVERING -> printf("      => Recovering\n")
  :: st == FINISHING -> printf("      => Finishing\n")
  :: st == STOPPED -> printf("      => Stopped\n")
  :: st == FINISHED -> printf("      => Finished\n")
  :: st == FAILED -> printf("      => Failed\n")
  :: else
  fi
}

/* a worker message; tasks are masks (task t is 1 << t) */
inline say_message() {
  if
  :: mk == MSG_READY -> printf("worker: Ready(gen %d, worker %d) [at gen %d]\n", mg, mi, gen)
  :: mk == MSG_ACK ->
     printf("worker: Ack(gen %d, tasks %d, epoch %d; then finished %d) [at gen %d]\n",
            mg, mi, me, mf, gen)
  :: mk == MSG_CKPT_FAILED ->
     printf("worker: CheckpointFailed(gen %d, tasks %d, epoch %d) [at gen %d]\n", mg, mi, me, gen)
  :: mk == MSG_COMMITTED ->
     printf("worker: Committed(gen %d, tasks %d, epoch %d; then finished %d) [at gen %d]\n",
            mg, mi, me, mf, gen)
  :: mk == MSG_FINISHED -> printf("worker: Finished(gen %d, tasks %d) [at gen %d]\n", mg, mf, gen)
  :: mk == MSG_FAILED -> printf("worker: TaskFailed(gen %d, tasks %d) [at gen %d]\n", mg, mi, gen)
  :: mk == MSG_INPUT_ENDED ->
     printf("worker: InputEnded(gen %d, tasks %d) [at gen %d]\n", mg, mi, gen)
  :: else
  fi
}

inline say_held(w) {
  printf("network holds a message of worker %d (kind %d, gen %d, tasks %d, epoch %d)\n",
         w, mk, mg, mi, me)
}

/* ------------------------------------------------------------------ safety properties */

/*
 * The safety properties of specs/PROPERTIES.md, as assertions, checked after every step that
 * can break one (every controller input, and the start of a generation's workers): each LTL
 * formula [] p there is assert(p) here.  One exhaustive search checks them all; a failed
 * assertion names its property: SAFE(name, p) asserts p || name, and name is a variable that
 * is always false.  -DONLY -DONLY_<name> keeps the check of one property alone (a revert must
 * be caught by the property named for it).
 */
hidden byte single_checkpoint_in_flight, epochs_increase, commit_after_persist;
hidden byte no_periodic_after_stop, escalation_monotone, escalation_immediate;
hidden byte terminal_absorbs, stale_generation_inert, single_generation_running;
hidden byte dead_task_escalates, no_needless_wait, checkpoint_stop_commits_final;
hidden byte end_of_input_commits_final;

#define SAFE(name, p) assert((p) || name)

inline check_safety() {
#if !defined(ONLY) || defined(ONLY_single_checkpoint_in_flight)
  SAFE(single_checkpoint_in_flight, inflight <= 1);
#endif
#if !defined(ONLY) || defined(ONLY_epochs_increase)
  SAFE(epochs_increase, !bad_epoch);
#endif
#if !defined(ONLY) || defined(ONLY_commit_after_persist)
  SAFE(commit_after_persist, !bad_commit);
#endif
#if !defined(ONLY) || defined(ONLY_no_periodic_after_stop)
  SAFE(no_periodic_after_stop, !bad_periodic);
#endif
#if !defined(ONLY) || defined(ONLY_escalation_monotone)
  SAFE(escalation_monotone, !bad_esc);
#endif
#if !defined(ONLY) || defined(ONLY_escalation_immediate)
  SAFE(escalation_immediate, !bad_imm);
#endif
#if !defined(ONLY) || defined(ONLY_terminal_absorbs)
  SAFE(terminal_absorbs, !bad_term);
#endif
#if !defined(ONLY) || defined(ONLY_stale_generation_inert)
  SAFE(stale_generation_inert, !bad_stale);
#endif
#if !defined(ONLY) || defined(ONLY_single_generation_running)
  SAFE(single_generation_running, !bad_twogen);
#endif
#if !defined(ONLY) || defined(ONLY_dead_task_escalates)
  SAFE(dead_task_escalates, !bad_dead);
#endif
#if !defined(ONLY) || defined(ONLY_no_needless_wait)
  /* once every task of the generation has ended (g_told: the controller was told so), a
     stop, or the end of input, waits for nothing: it ends in the step that told it of the
     last one, unless its final checkpoint is still in flight (an ack or commit its tasks'
     finish overtook, or its metadata, is still on its way); and a checkpoint asked for
     waits only while Running with a checkpoint or a cleanup in flight */
  SAFE(no_needless_wait,
       (g_told == ALLT -> !(st == STOPJOB || (FINAL_PHASE && !FINAL_IN_FLIGHT)) : 1) &&
       (creq -> (st == RUNNING && !CKPT_IDLE) : 1));
#endif
#if !defined(ONLY) || defined(ONLY_checkpoint_stop_commits_final)
  SAFE(checkpoint_stop_commits_final,
       (st == STOPPED && level == M_CKPT) -> (final_done && commit_pend == 0 && fin == ALLT) : 1);
#endif
#if !defined(ONLY) || defined(ONLY_end_of_input_commits_final)
  SAFE(end_of_input_commits_final,
       (st == FINISHED) -> (final_done && commit_pend == 0 && fin == ALLT) : 1);
#endif
  skip
}

/* before every controller input (was_stale is set first for a worker message) */
inline pre() {
  was_term = terminal; was_st = st; was_level = level;
  if
  :: was_term || was_stale -> snap(s1, s2, s3)
  :: else
  fi
}

/* after every controller input: the properties of the step */
inline post() {
  if
  :: was_term || was_stale ->
     snap(n1, n2, n3);
     if
     :: was_term && (s1 != n1 || s2 != n2 || s3 != n3) -> bad_term = 1
     :: else
     fi;
     if
     :: was_stale && (s1 != n1 || s2 != n2 || s3 != n3) -> bad_stale = 1
     :: else
     fi
  :: else
  fi;
  was_stale = 0;
  /* the stop level never decreases, and matches the state */
  if
  :: level < was_level -> bad_esc = 1
  :: st == CKSTOP && level != M_CKPT -> bad_esc = 1
  :: st == STOPJOB && level != sjmode -> bad_esc = 1
  :: st == STOPWORKERS && level != M_FORCE -> bad_esc = 1
  :: (st == SCHEDULING || st == RUNNING || st == RECOVERING || st == FINISHING) &&
     level != M_NONE -> bad_esc = 1
  :: else
  fi;
  /* a stronger stop request takes effect at once */
  if
  :: req != M_NONE && !terminal && level < req -> bad_imm = 1
  :: else
  fi;
  req = M_NONE;
  if
  :: st != was_st -> say_state()
  :: else
  fi;
  check_safety()
}

/* ------------------------------------------------------------------ controller effects */

/* a message to worker w reaches it only if it runs and belongs to this generation */
#define LIVE(w) ((wst[w] == W_UP || wst[w] == W_SILENT) && wgen[w] == gen)
#define TRUN(t) (ts[t] == T_RUN || ts[t] == T_EOI)
/* the running tasks of worker w, if a message reaches it */
#define REACH(w) (LIVE(w) -> ((TRUN(SRCT(w)) -> BIT(SRCT(w)) : 0) | \
                              (TRUN(SNKT(w)) -> BIT(SNKT(w)) : 0)) : 0)

inline send_barrier(f) {
  bdue = REACH(0) | REACH(1);
  bfin = f
}

inline send_abort() {
  bdue = 0; bfin = 0
}

/* Commit(e) to every sink whose commit is pending */
inline send_commits(e) {
  if
  :: e > g_durable -> bad_commit = 1
  :: else
  fi;
  cdue = cdue | (commit_pend & (REACH(0) | REACH(1)))
}

inline send_stop(m) {
  if
  :: LIVE(0) -> mb_stop[0] = m
  :: else
  fi;
  if
  :: LIVE(1) -> mb_stop[1] = m
  :: else
  fi
}

/* ------------------------------------------------------------------ controller transitions */

/* a stop disarms the checkpoint interval (the revert forgets to) */
#ifdef REVERT_PERIODIC_AFTER_STOP
#define T_INT_OFF skip
#else
#define T_INT_OFF t_int = 0
#endif

/* drops the checkpoint in flight, if one is not yet complete (a complete one waiting for
   its commits stays the restore point; its commits are re-sent after a restart) */
inline abort_ckpt() {
  if
  :: cp != CP_NONE ->
     printf("      checkpoint %d aborted\n", epoch);
     send_abort();
     cp = CP_NONE; cp_final = 0; acks = 0; g_req = 0;
     inflight--
  :: else
  fi;
  t_ckpt = 0
}

/* a checkpoint that is not the final one: periodic, or asked for */
inline start_checkpoint() {
  if
  :: level != M_NONE -> bad_periodic = 1
  :: else
  fi;
  start_epoch(); cp_final = 0;
  printf("      checkpoint %d starts\n", epoch);
  send_barrier(0);
#ifndef REVERT_NO_CKPT_TIMEOUT
  t_ckpt = 1;
#endif
  skip
}

/* a checkpoint asked for starts (r: R_NOW or R_QUEUED); the periodic schedule counts from
   it */
inline start_requested(r) {
  creq = 0; t_int = 0;
  start_checkpoint();
  g_req = r
}

/* nothing in flight any more: a queued request runs now, else the interval is armed */
inline maybe_arm_interval() {
  if
  :: st == RUNNING && CKPT_IDLE && creq -> start_requested(R_QUEUED)
  :: st == RUNNING && CKPT_IDLE && epoch < MAXEP - 1 -> t_int = 1
  :: else
  fi
}

inline start_epoch() {
  epoch++;
  if
  :: epoch <= g_last_ep -> bad_epoch = 1
  :: else
  fi;
  g_last_ep = epoch;
  cp = CP_BARRIER; acks = 0;
  inflight++
}

inline check_all_acked() {
  if
  :: cp == CP_BARRIER && ((acks | fin) & ALLT) == ALLT ->
     cp = CP_PERSIST; persist_req = epoch;
#ifdef REVERT_COMMIT_BEFORE_PERSIST
     /* bug: the sinks are told to commit as soon as every task acked */
     done_ep = epoch; commit_pend = SNK; send_commits(epoch);
#endif
     skip
  :: else
  fi
}

inline trigger_final() {
  start_epoch();
  printf("      final checkpoint %d starts\n", epoch);
  cp_final = 1;
  send_barrier(1);
  check_all_acked()
}

inline enter_terminal(s) {
  abort_ckpt(); creq = 0;
  t_int = 0; t_final = 0; t_stop = 0; t_force = 0; t_sched = 0; t_back = 0;
  t_hb[0] = 0; t_hb[1] = 0;
  cleanup = 0; persist_req = 0;
  st = s
}

inline enter_stopworkers() {
  abort_ckpt(); creq = 0;
  t_int = 0; t_final = 0; t_stop = 0; t_sched = 0; t_back = 0; t_hb[0] = 0; t_hb[1] = 0;
  if
  :: st == RECOVERING && !stopped_ok -> skip   /* the kill under way goes on */
  :: else -> sreq = S_STOP; sreq_gen = gen; t_force = 1; fretries = 0
  fi;
  st = STOPWORKERS; level = M_FORCE; sjmode = 0;
  fin = 0; ready = 0; inend = 0;  /* workers are not listened to any more */
  g_told = 0
}

inline enter_stopjob(m) {
  abort_ckpt(); creq = 0;
  T_INT_OFF; t_final = 0;
  if
  :: st != STOPJOB -> t_stop = 1   /* escalating from graceful keeps the deadline */
  :: else
  fi;
  st = STOPJOB; sjmode = m; level = m;
  send_stop(m);
  if
  :: fin == ALLT -> enter_terminal(STOPPED)
  :: else
  fi
}

inline enter_recovering() {
  abort_ckpt(); creq = 0;
  t_int = 0; t_final = 0; t_stop = 0; t_sched = 0; t_hb[0] = 0; t_hb[1] = 0;
  st = RECOVERING; stopped_ok = 0; cleanup = 0;
  fin = 0; ready = 0; inend = 0;  /* workers are not listened to any more */
  g_told = 0;
  sreq = S_STOP; sreq_gen = gen; fretries = 0;
#ifndef REVERT_NO_KILL_TIMEOUT
  t_force = 1;
#endif
#ifdef REVERT_RESTART_BEFORE_CONFIRM
  /* bug: backs off and restarts without waiting for the old workers to be confirmed dead */
  if
  :: restarts >= BUDGET -> enter_terminal(FAILED)
  :: else -> stopped_ok = 1; t_force = 0; t_back = 1
  fi;
#endif
  skip
}

/* CheckpointStopping and Finishing: the final checkpoint starts once nothing is in flight;
   the job ends once it is committed and every task finished */
inline progress_final() {
  if
#ifdef REVERT_STOP_BEFORE_COMMIT
  /* bug: a checkpoint stop ends once the final checkpoint is persisted and the sources
     finished, without waiting for the sinks' commits */
  :: st == CKSTOP && final_done && (fin & SRC) == SRC -> enter_terminal(STOPPED)
#endif
#ifdef REVERT_FINISH_BEFORE_COMMIT
  /* bug: the end of input ends once the final checkpoint is persisted and the sources
     finished, without waiting for the sinks' commits */
  :: st == FINISHING && final_done && (fin & SRC) == SRC -> enter_terminal(FINISHED)
#endif
  :: cp != CP_NONE || commit_pend != 0 -> skip   /* wait for the one in flight */
  :: !final_done -> trigger_final()
  :: fin == ALLT && st == CKSTOP -> enter_terminal(STOPPED)
  :: fin == ALLT && st == FINISHING -> enter_terminal(FINISHED)
  :: else
  fi
}

/* the final checkpoint cannot complete: a checkpoint stop escalates, the end of input
   recovers */
inline final_failed() {
  if
  :: st == FINISHING -> enter_recovering()
  :: else -> enter_stopjob(M_IMM)
  fi
}

inline enter_ckstop() {
  t_int = 0; creq = 0;
#ifndef REVERT_NO_FINAL_CKPT_TIMEOUT
  t_final = 1;
#endif
  st = CKSTOP; level = M_CKPT;
  if
#ifdef REVERT_SECOND_CKPT_IN_FLIGHT
  /* bug: the final checkpoint starts while a periodic one is in flight */
  :: cp != CP_NONE && !final_done -> trigger_final()
#endif
  :: else -> progress_final()
  fi
}

inline enter_finishing() {
  t_int = 0; t_final = 1; creq = 0;
  st = FINISHING;
  progress_final()
}

inline enter_running() {
  st = RUNNING; t_sched = 0; t_hb[0] = 1; t_hb[1] = 1;
  if
  :: commit_pend != 0 -> send_commits(done_ep); t_ckpt = 1   /* re-send restored commits */
  :: else -> maybe_arm_interval()
  fi;
  if
  :: inend == SRC -> enter_finishing()   /* the inputs ended while starting */
  :: else
  fi
}

inline restart() {
  restarts++; gen++;
  st = SCHEDULING; ready = 0; fin = 0; inend = 0; acks = 0; fails = 0; stopped_ok = 0;
  final_done = 0; bfin = 0;
  if
  :: commit_pend != 0 -> commit_pend = SNK   /* every sink commits the restore point again */
  :: else
  fi;
#ifdef REVERT_REUSE_EPOCH
  epoch = done_ep;                      /* bug: numbering restarts from the restore point */
#endif
  sreq = S_START; sreq_gen = gen; t_sched = 1
}

/* every sink acknowledged Commit(done_ep) */
inline commits_done() {
  t_ckpt = 0;
  if
  :: st == RUNNING ->
     if
     :: done_ep > KEEP -> cleanup = 1   /* clean up the epochs before done_ep */
     :: else -> maybe_arm_interval()
     fi
  :: FINAL_PHASE -> progress_final()
  :: else
  fi
}

/* the checkpoint in flight failed before completion */
inline ckpt_failed() {
  if
  :: cp_final -> abort_ckpt(); final_failed()
  :: FINAL_PHASE -> abort_ckpt(); progress_final()   /* the one the final waited for */
  :: else ->
     abort_ckpt(); fails++;
     if
     :: fails > TOL -> enter_recovering()
     :: else -> maybe_arm_interval()   /* the next one later */
     fi
  fi
}

/* ------------------------------------------------------------------ controller inputs */

#ifdef REVERT_LEVEL_FROM_REQUESTS
/* bug: a request is compared with the strongest one asked for, not with the stop level */
#define WEAKER(m) (m <= umode)
#else
#define WEAKER(m) (m <= level)
#endif

inline ctl_stop(m) {
  if
#ifdef REVERT_STOP_LEAVES_TERMINAL
  /* bug: a force request after the job ended kills "leftover" workers again */
  :: terminal && m == M_FORCE && m > level ->
     sreq = S_STOP; sreq_gen = gen; t_force = 1; st = STOPWORKERS; level = M_FORCE
#endif
  :: terminal || WEAKER(m) -> skip     /* weaker or equal: refused, changes nothing */
  :: else ->
#ifdef REVERT_LEVEL_FROM_REQUESTS
     umode = m;
#endif
     if
     :: st == SCHEDULING -> enter_stopworkers()
     :: st == RECOVERING && stopped_ok -> level = M_FORCE; enter_terminal(STOPPED)
     :: st == RECOVERING -> enter_stopworkers()
#ifdef REVERT_FORCE_IGNORED_IN_FINAL
     :: st == CKSTOP && m == M_FORCE -> skip   /* bug: accepted, does nothing */
#endif
     :: m == M_FORCE -> enter_stopworkers()
     :: m == M_IMM -> enter_stopjob(M_IMM)
     :: m == M_GRACE -> enter_stopjob(M_GRACE)
     :: m == M_CKPT -> enter_ckstop()
     fi
  fi
}

/* a task failed or a worker was lost (dead = the tasks that ended, if known) */
inline on_failure(dmask) {
  fin = fin | dmask;
  if
  :: st == SCHEDULING || st == RUNNING || st == FINISHING -> enter_recovering()
#ifdef REVERT_WAIT_ON_DEAD_TASK
  :: st == CKSTOP || st == STOPJOB -> skip   /* bug: the stop waits it out */
#endif
  :: st == CKSTOP && dmask != 0 -> enter_stopjob(M_IMM)  /* a task failed: stop the rest */
  :: st == CKSTOP || st == STOPJOB -> enter_stopworkers() /* only a kill ends them */
  :: else
  fi
}

/* the checks of a failure during a stop */
inline ctl_failure(dead) {
  if
  :: st == CKSTOP && cp_final -> g_final_fail = 1
  :: else
  fi;
  if
  :: st == CKSTOP || st == STOPJOB ->
     on_failure(dead);
     if
     :: level <= was_level -> bad_dead = 1   /* a dead task escalates the stop at once */
     :: else
     fi
  :: else -> on_failure(dead)
  fi
}

inline ctl_ready(w) {
  if
  :: st == SCHEDULING ->
     ready = ready | BIT(w);
     if
     :: ready == 3 -> enter_running()
     :: else
     fi
  :: else
  fi
}

inline ctl_ack(m, e) {
  if
  :: cp == CP_BARRIER && e == epoch ->
     acks = acks | m;
     check_all_acked()
  :: else
  fi
}

inline ctl_ckpt_task_failed(e) {
  if
  :: cp == CP_BARRIER && e == epoch -> ckpt_failed()
  :: else
  fi
}

inline ctl_committed(m, e) {
  if
  :: e == done_ep && (commit_pend & m) ->
     commit_pend = commit_pend & ~m;
     if
     :: commit_pend == 0 -> commits_done()
     :: else
     fi
  :: else
  fi
}

/* the tasks whose finish fits the final checkpoint (Controller::finish_fits_final): each did
   its whole part of it, or what it sent before its finish (an ack, a commit) is still on its
   way and counts when it arrives.  While the final barrier is out or its metadata is being
   persisted, only sources fit (a two-phase-commit sink commits only once the metadata is
   durable); once it is persisted, every task does */
#define FITS_FINAL (cp_final -> SRC : (final_done -> ALLT : 0))

#ifdef REVERT_UNCOUNTED_EARLY_FINISH
/* the tasks whose ack or commit of the final checkpoint the controller has already seen: the
   revert takes any other finish as early */
#define FINAL_DONE_TASKS \
  ((cp_final -> ((cp == CP_PERSIST) -> SRC : (acks & SRC)) : (final_done -> SRC : 0)) | \
   ((final_done && cp == CP_NONE) -> (SNK & ~commit_pend) : 0))
#endif

inline ctl_finished(m) {
  if
#ifdef REVERT_UNCOUNTED_EARLY_FINISH
  /* bug: a finish that overtook its ack or commit is taken as early, and not counted */
  :: FINAL_PHASE && (m & ~FINAL_DONE_TASKS) == 0 -> fin = fin | m; progress_final()
  :: FINAL_PHASE -> final_failed()
#endif
  :: FINAL_PHASE && (m & ~FITS_FINAL) == 0 -> fin = fin | m; progress_final()
  :: FINAL_PHASE ->
     /* early: no order of the worker's messages explains it; it counts all the same */
     fin = fin | m; final_failed()
  :: st == STOPJOB ->
     fin = fin | m;
     if
     :: fin == ALLT -> enter_terminal(STOPPED)
     :: else
     fi
  :: else -> enter_recovering()   /* a task may finish only in a final checkpoint or a stop */
  fi
}

inline ctl_input_ended(m) {
  inend = inend | m;
  if
  :: st == RUNNING && inend == SRC -> enter_finishing()
  :: else
  fi
}

inline ctl_persisted(e) {
  if
  :: !terminal && cp == CP_PERSIST && e == epoch ->
     cp = CP_NONE; inflight--;
     done_ep = e; fails = 0;
     g_req_done = g_req_done | g_req; g_req = 0;
     printf("      checkpoint %d complete\n", e);
     commit_pend = SNK;
     send_commits(e);
     if
     :: cp_final -> cp_final = 0; final_done = 1
     :: else   /* the checkpoint timeout bounds the commits too */
     fi
  :: else
  fi
}

inline ctl_persist_failed(e) {
  if
  :: !terminal && cp == CP_PERSIST && e == epoch -> ckpt_failed()
  :: else
  fi
}

inline ctl_cleanup_done() {
  if
  :: !terminal && cleanup -> cleanup = 0; maybe_arm_interval()
  :: else
  fi
}

inline ctl_sched_error(g) {
  if
  :: st == SCHEDULING && g == gen -> enter_recovering()
  :: else
  fi
}

inline ctl_stop_confirmed(g) {
  if
  :: g == gen && st == RECOVERING && !stopped_ok ->
     stopped_ok = 1; t_force = 0;
     if
     :: restarts >= BUDGET -> enter_terminal(FAILED)   /* the workers are stopped first */
     :: else -> t_back = 1
     fi
  :: g == gen && st == STOPWORKERS -> enter_terminal(STOPPED)
  :: else
  fi
}

/* timers: the clock has disarmed the timer that expired */

inline ctl_interval() {
  if
#ifdef REVERT_PERIODIC_AFTER_STOP
  /* bug: the expiry only checks that nothing is in flight */
  :: !terminal && st != RECOVERING && cp == CP_NONE && commit_pend == 0 && !cleanup ->
#else
  :: st == RUNNING && cp == CP_NONE && commit_pend == 0 && !cleanup ->
#endif
     start_checkpoint()
  :: else
  fi
}

/* a checkpoint asked for on demand (TriggerCheckpoint): only while Running; it starts now,
   or right after the checkpoint or cleanup in flight; one waits at most: a request while one
   waits is refused */
inline ctl_request() {
  if
  :: st != RUNNING || creq -> skip   /* refused: changes nothing */
#ifdef REVERT_REQUEST_BESIDE_INFLIGHT
  /* bug: the request starts a checkpoint beside the one in flight */
  :: cp != CP_NONE -> start_requested(R_NOW)
#endif
  :: CKPT_IDLE -> start_requested(R_NOW)
  :: else -> creq = 1
  fi
}

inline ctl_ckpt_timeout() {
  if
  :: cp != CP_NONE -> ckpt_failed()
  :: commit_pend != 0 && st == RUNNING -> enter_recovering()   /* commits: a restart re-sends */
  :: commit_pend != 0 && FINAL_PHASE -> final_failed()
  :: else
  fi
}

inline ctl_final_timeout() {
  if
  :: FINAL_PHASE -> final_failed()
  :: else
  fi
}

inline ctl_stop_timeout() {
  if
  :: st == STOPJOB -> enter_stopworkers()
  :: else
  fi
}

inline ctl_force_timeout() {
  if
  :: st == STOPWORKERS || (st == RECOVERING && !stopped_ok) ->
     if
     :: fretries < FRETRIES ->
        fretries++; sreq = S_STOP; sreq_gen = gen; t_force = 1   /* re-ask, after a pause */
     :: else -> enter_terminal(FAILED)
     fi
  :: else
  fi
}

inline ctl_sched_timeout() {
  if
  :: st == SCHEDULING -> enter_recovering()
  :: else
  fi
}

inline ctl_backoff() {
  if
  :: st == RECOVERING && stopped_ok -> restart()
  :: else
  fi
}

inline ctl_lost(w) {
  if
  :: st == SCHEDULING || st == RUNNING || st == CKSTOP || st == STOPJOB || st == FINISHING ->
     ctl_failure(0)
  :: else
  fi
}

/* a message from a worker: refused unless of this generation and listened to */
#ifdef REVERT_ACCEPT_OLD_GEN_ACK
/* bug: a message of the previous generation is taken as current */
#define OTHER_GEN (mg != gen && mg + 1 != gen)
#else
#define OTHER_GEN (mg != gen)
#endif
#define LISTENING (st == SCHEDULING || st == RUNNING || st == CKSTOP || st == STOPJOB || \
                   st == FINISHING)

/* tasks that finished right after the message: a TaskFinished of their own */
#define THEN_FINISHED \
  if \
  :: mf != 0 && !terminal && !OTHER_GEN && LISTENING -> \
     g_told = g_told | mf; ctl_finished(mf) \
  :: else \
  fi

/* a worker message (mk .. mf) reaches the controller, which handles it with `handle` unless
   it refuses it.  A step that knows the kind of its message passes that kind's handling
   alone, so that only it is expanded into the step: the verifier's code, and the time to
   compile it, stay small */
#define DELIVER(handle) \
  say_message(); \
  was_stale = (mg != gen); \
  pre(); \
  if \
  :: terminal || OTHER_GEN || !LISTENING   /* refused */ \
  :: else -> handle \
  fi; \
  post()

/* the handling of a message of any kind */
inline handle_message() {
  if
  :: mk == MSG_READY -> ctl_ready(mi)
  :: mk == MSG_ACK -> ctl_ack(mi, me)
  :: mk == MSG_CKPT_FAILED -> ctl_ckpt_task_failed(me)
  :: mk == MSG_COMMITTED -> ctl_committed(mi, me)
  :: mk == MSG_FINISHED
  :: mk == MSG_FAILED -> g_told = g_told | mi; ctl_failure(mi)
  :: mk == MSG_INPUT_ENDED -> ctl_input_ended(mi)
  fi;
  THEN_FINISHED
}

/* ------------------------------------------------------------------ environment */

/*
 * Two processes: the user, and System, whose steps come from the network, the clock, the
 * scheduler, the store and the two workers.  Weak fairness is per process, and every step
 * of System is progress (it changes a bounded counter or flag for good), so the only cycles
 * are stop requests that change nothing: a fair execution may loop on them only once System
 * can do nothing more.  Faults and stop requests are optional: once System can do nothing
 * but faults, it may give up its remaining fault budget, and the user may stop asking, so
 * that fairness never forces a fault or a stop.
 */

inline clear_worker(w) {
  wst[w] = W_DEAD; wgen[w] = 0; wready[w] = 0;
  ts[SRCT(w)] = T_DEAD; ts[SNKT(w)] = T_DEAD;
  bdue = bdue & ~WTASKS(w); cdue = cdue & ~WTASKS(w); mb_stop[w] = 0
}

inline start_worker(w, g) {
  if
  :: wst[w] != W_DEAD -> bad_twogen = 1   /* a worker of another generation still runs */
  :: else
  fi;
  clear_worker(w);
  wst[w] = W_UP; wgen[w] = g;
  ts[SRCT(w)] = T_RUN; ts[SNKT(w)] = T_RUN
}

/* the outbox is left alone: a message already sent is still in the network */
inline kill_worker(w, g) {
  if
  :: wst[w] != W_DEAD && wgen[w] == g -> clear_worker(w)
  :: else
  fi
}

#define UPW(w) (wst[w] == W_UP || wst[w] == W_SILENT)
#define CANSEND(w) (UPW(w) && wready[w] && hk[w] == 0)
#define DRAINED (ts[SRCT(0)] == T_DONE && ts[SRCT(1)] == T_DONE)
/* a source finishes on a stop (and right after acking a final barrier); a sink on an
   immediate stop, or once drained on a graceful one (and right after committing the final
   checkpoint) */
#define FINISH_DUE(w) \
  (((TRUN(SRCT(w)) && mb_stop[w] != 0) -> BIT(SRCT(w)) : 0) | \
   ((TRUN(SNKT(w)) && (mb_stop[w] == M_IMM || (mb_stop[w] == M_GRACE && DRAINED))) \
    -> BIT(SNKT(w)) : 0))
#ifdef EOI
#define EOI_DUE(w) (CANSEND(w) && ts[SRCT(w)] == T_RUN && mb_stop[w] == 0)
#else
#define EOI_DUE(w) false
#endif
#define FAULT_OK (faults < MAXF && !terminal)
/* a worker fault makes a difference only while the controller listens to the worker */
#define WFAULT_OK (FAULT_OK && LISTENING)

/* a task leaves the running ones: nothing is due for it any more */
inline task_ends(t, s) {
  ts[t] = s; bdue = bdue & ~BIT(t); cdue = cdue & ~BIT(t)
}

/* the work: each leaves its message in mk, mg, mi, me, mf */
inline do_ready(w) {
  wready[w] = 1;
  mk = MSG_READY; mg = wgen[w]; mi = w; me = 0; mf = 0
}

/* every task with the barrier due acks it; after a final barrier the source finishes */
inline do_ack(w) {
  hx = bdue & WTASKS(w);
  bdue = bdue & ~hx;
  hf = (bfin -> (hx & SRC) : 0);
  if
  :: hf != 0 -> task_ends(SRCT(w), T_DONE)
  :: else
  fi;
  mk = MSG_ACK; mg = wgen[w]; mi = hx; me = epoch; mf = hf
}

/* the sink commits; after committing the final checkpoint it finishes */
inline do_commit(w) {
  cdue = cdue & ~BIT(SNKT(w));
  hf = (bfin -> BIT(SNKT(w)) : 0);
  if
  :: hf != 0 -> task_ends(SNKT(w), T_DONE)
  :: else
  fi;
  mk = MSG_COMMITTED; mg = wgen[w]; mi = BIT(SNKT(w)); me = done_ep; mf = hf
}

inline do_finish(w) {
  hx = FINISH_DUE(w);
  if
  :: hx & BIT(SRCT(w)) -> task_ends(SRCT(w), T_DONE)
  :: else
  fi;
  if
  :: hx & BIT(SNKT(w)) -> task_ends(SNKT(w), T_DONE)
  :: else
  fi;
  mk = MSG_FINISHED; mg = wgen[w]; mi = 0; me = 0; mf = hx
}

inline do_input_ended(w) {
  ts[SRCT(w)] = T_EOI;
  mk = MSG_INPUT_ENDED; mg = wgen[w]; mi = BIT(SRCT(w)); me = 0; mf = 0
}

inline do_fail(w, t) {
  task_ends(t, T_FAILED);
  mk = MSG_FAILED; mg = wgen[w]; mi = BIT(t); me = 0; mf = 0
}

/* a task cannot take its part in the checkpoint: it says so and keeps running */
inline do_ckpt_fail(w, t) {
  bdue = bdue & ~BIT(t);
  mk = MSG_CKPT_FAILED; mg = wgen[w]; mi = BIT(t); me = epoch; mf = 0
}

/* the network holds the message: it reaches the controller later, maybe much later */
inline hold(w) {
  say_held(w);
  hk[w] = mk; hg[w] = mg; hm[w] = mi; hep[w] = me; hfm[w] = mf
}

/* the network reorders: the finish that came right after the message just made (an ack of
   a final barrier, a commit of the final checkpoint) reaches the controller first; the
   message itself is held, and arrives later */
inline overtake(w) {
  printf("network: the finish of tasks %d overtakes the message before it\n", mf);
  hf = mf; mf = 0;
  hold(w);
  mk = MSG_FINISHED; mi = 0; me = 0; mf = hf;
  DELIVER(THEN_FINISHED)
}

/* the network delivers a held message */
inline release(w) {
  printf("network delivers the held message of worker %d\n", w);
  mk = hk[w]; mg = hg[w]; mi = hm[w]; me = hep[w]; mf = hfm[w];
  hk[w] = 0; hg[w] = 0; hm[w] = 0; hep[w] = 0; hfm[w] = 0;
  DELIVER(handle_message())
}

/* the guards of System's steps that are not faults */
#define READY_DUE(w)  (UPW(w) && !wready[w] && hk[w] == 0)
#define ACK_DUE(w)    (CANSEND(w) && (bdue & WTASKS(w)) != 0)
#define COMMIT_DUE(w) (CANSEND(w) && (cdue & BIT(SNKT(w))) != 0)
#define FINISH_OK(w)  (CANSEND(w) && FINISH_DUE(w) != 0)
#define HB_LOST(w)    (t_hb[w] && wst[w] != W_UP)
#define WORKER_BUSY(w) (READY_DUE(w) || ACK_DUE(w) || COMMIT_DUE(w) || FINISH_OK(w) || \
                        EOI_DUE(w) || hk[w] != 0)
#define SYSTEM_IDLE !(t_int || t_ckpt || t_final || t_stop || t_force || t_sched || t_back || \
                      HB_LOST(0) || HB_LOST(1) || sreq != S_NONE || persist_req != 0 || \
                      cleanup || WORKER_BUSY(0) || WORKER_BUSY(1))

/* a piece of a worker's work, its message delivered now */
#define NOW(guard, work, handle) :: d_step { guard -> work; DELIVER(handle) }
/* ... or held by the network (a fault) */
#define HELD(w, guard, work) :: d_step { guard && FAULT_OK -> faults++; work; hold(w) }

/* worker w: a source task 2w and a two-phase-commit sink task 2w+1 */
#define WORKER(w) \
  NOW(READY_DUE(w), do_ready(w), ctl_ready(mi)) \
  NOW(ACK_DUE(w), do_ack(w), ctl_ack(mi, me); THEN_FINISHED) \
  NOW(COMMIT_DUE(w), do_commit(w), ctl_committed(mi, me); THEN_FINISHED) \
  NOW(FINISH_OK(w), do_finish(w), THEN_FINISHED) \
  NOW(EOI_DUE(w), do_input_ended(w), ctl_input_ended(mi)) \
  /* the network delivers a held message */ \
  :: d_step { hk[w] != 0 -> release(w) }

/* the faults of worker w and of the network */
#define WORKER_FAULTS(w) \
  HELD(w, READY_DUE(w), do_ready(w)) \
  HELD(w, ACK_DUE(w), do_ack(w)) \
  HELD(w, COMMIT_DUE(w), do_commit(w)) \
  HELD(w, FINISH_OK(w), do_finish(w)) \
  HELD(w, EOI_DUE(w), do_input_ended(w)) \
  /* a task fails a checkpoint, fails (and says so), or hangs (says nothing, ever) */ \
  :: d_step { CANSEND(w) && (bdue & BIT(SRCT(w))) && WFAULT_OK -> \
       faults++; do_ckpt_fail(w, SRCT(w)); DELIVER(ctl_ckpt_task_failed(me)) } \
  :: d_step { CANSEND(w) && (bdue & BIT(SNKT(w))) && WFAULT_OK -> \
       faults++; do_ckpt_fail(w, SNKT(w)); DELIVER(ctl_ckpt_task_failed(me)) } \
  :: d_step { CANSEND(w) && TRUN(SRCT(w)) && WFAULT_OK -> \
       faults++; do_fail(w, SRCT(w)); DELIVER(g_told = g_told | mi; ctl_failure(mi)) } \
  :: d_step { CANSEND(w) && TRUN(SNKT(w)) && WFAULT_OK -> \
       faults++; do_fail(w, SNKT(w)); DELIVER(g_told = g_told | mi; ctl_failure(mi)) } \
  :: d_step { UPW(w) && wready[w] && TRUN(SRCT(w)) && WFAULT_OK -> \
       faults++; task_ends(SRCT(w), T_HUNG); printf("fault: task %d hangs\n", SRCT(w)) } \
  :: d_step { UPW(w) && wready[w] && TRUN(SNKT(w)) && WFAULT_OK -> \
       faults++; task_ends(SNKT(w), T_HUNG); printf("fault: task %d hangs\n", SNKT(w)) } \
  /* the worker crashes, or its heartbeats are lost while it keeps running */ \
  :: d_step { UPW(w) && WFAULT_OK -> \
       faults++; he = wgen[w]; clear_worker(w); wst[w] = W_CRASHED; wgen[w] = he; \
       printf("fault: worker %d crashes\n", w) } \
  :: d_step { wst[w] == W_UP && wready[w] && WFAULT_OK -> \
       faults++; wst[w] = W_SILENT; printf("fault: worker %d loses its heartbeats\n", w) } \
  /* the network reorders: a finish overtakes the ack or commit sent just before it */ \
  :: d_step { ACK_DUE(w) && bfin && (bdue & BIT(SRCT(w))) && FAULT_OK -> \
       faults++; do_ack(w); overtake(w) } \
  :: d_step { COMMIT_DUE(w) && bfin && FAULT_OK -> \
       faults++; do_commit(w); overtake(w) }

/* the user: a stop request of any mode at any moment; a weaker or equal one is refused */
#ifdef NREQ
#define USER_STOP(m) d_step { nreq < NREQ -> \
    if \
    :: !terminal && m > level -> nreq++; req = m \
    :: else \
    fi; \
    printf("user: stop, mode %d\n", m); \
    pre(); ctl_stop(m); post() }
#else
#define USER_STOP(m) d_step { \
    if \
    :: !terminal && m > level -> req = m \
    :: else \
    fi; \
    printf("user: stop, mode %d\n", m); \
    pre(); ctl_stop(m); post() }
#endif

/* the user asks for a checkpoint at any moment.  NCREQ bounds the accepted requests; a
   request is accepted only within the epochs the model has for checkpoints that are not
   final (it takes the epoch after the last one started, now or once the one in flight is
   over); a refused one changes nothing and is always possible */
#if NCREQ > 0
#define ACCEPTS_REQUEST (st == RUNNING && !creq)
#define USER_CHECKPOINT :: d_step { !ACCEPTS_REQUEST || (ncreq < NCREQ && epoch < MAXEP - 1) -> \
    if \
    :: ACCEPTS_REQUEST -> ncreq++ \
    :: else \
    fi; \
    printf("user: checkpoint now\n"); pre(); ctl_request(); post() }
#else
#define USER_CHECKPOINT
#endif

active proctype User() {
end:
  do
  :: USER_STOP(M_CKPT)
  :: USER_STOP(M_GRACE)
  :: USER_STOP(M_IMM)
  :: USER_STOP(M_FORCE)
  USER_CHECKPOINT
  :: SYSTEM_IDLE -> break               /* no more requests */
  od
}

active proctype System() {
end:
  do
  /* the scheduler: slow (any delay), then succeeding */
  :: d_step { sreq == S_START ->
       he = sreq_gen; sreq = S_NONE;
       printf("scheduler: starts the workers of generation %d\n", he);
       start_worker(0, he); start_worker(1, he); check_safety() }
  :: d_step { sreq == S_STOP ->
       he = sreq_gen; sreq = S_NONE;
       printf("scheduler: kills the workers of generation %d, confirms\n", he);
       kill_worker(0, he); kill_worker(1, he);
       pre(); ctl_stop_confirmed(he); post() }

  /* the metadata store: slow, then answering */
  :: d_step { persist_req != 0 ->
       he = persist_req; persist_req = 0;
       if
       :: he > g_durable -> g_durable = he
       :: else
       fi;
       printf("store: epoch %d persisted\n", he);
       pre(); ctl_persisted(he); post() }
  :: d_step { cleanup -> printf("store: cleanup done\n"); pre(); ctl_cleanup_done(); post() }

  /* the workers and the network */
  WORKER(0)
  WORKER(1)

  /* the clock: any armed timer may expire */
  :: d_step { t_int -> t_int = 0; printf("timer: checkpoint interval\n");
              pre(); ctl_interval(); post() }
  :: d_step { t_ckpt -> t_ckpt = 0; printf("timer: checkpoint timeout\n");
              pre(); ctl_ckpt_timeout(); post() }
  :: d_step { t_final -> t_final = 0; printf("timer: final checkpoint\n");
              pre(); ctl_final_timeout(); post() }
  :: d_step { t_stop -> t_stop = 0; printf("timer: stop timeout\n");
              pre(); ctl_stop_timeout(); post() }
  :: d_step { t_force -> t_force = 0; printf("timer: kill\n");
              pre(); ctl_force_timeout(); post() }
  :: d_step { t_sched -> t_sched = 0; printf("timer: scheduling timeout\n");
              pre(); ctl_sched_timeout(); post() }
  :: d_step { t_back -> t_back = 0; printf("timer: restart backoff\n");
              pre(); ctl_backoff(); post() }
  /* a heartbeat timeout expires only once the worker's heartbeats stopped arriving */
  :: d_step { HB_LOST(0) -> t_hb[0] = 0; printf("timer: heartbeat of worker 0\n");
              pre(); ctl_lost(0); post() }
  :: d_step { HB_LOST(1) -> t_hb[1] = 0; printf("timer: heartbeat of worker 1\n");
              pre(); ctl_lost(1); post() }

  /* faults, within the budget */
  :: d_step { sreq == S_START && FAULT_OK ->
       faults++; he = sreq_gen; sreq = S_NONE;
       printf("fault: the scheduler fails to start generation %d\n", he);
       pre(); ctl_sched_error(he); post() }
  :: d_step { sreq == S_STOP && FAULT_OK ->
       faults++; sreq = S_NONE;
       printf("fault: the scheduler loses a kill request\n") }
  /* (a failure of a persist nobody waits for would change nothing) */
  :: d_step { persist_req != 0 && persist_req == epoch && cp == CP_PERSIST && FAULT_OK ->
       faults++; he = persist_req; persist_req = 0;
       printf("fault: persisting epoch %d fails\n", he);
       pre(); ctl_persist_failed(he); post() }
  WORKER_FAULTS(0)
  WORKER_FAULTS(1)

  /* no more faults (only needed once nothing else can happen) */
  :: d_step { FAULT_OK && SYSTEM_IDLE -> faults = MAXF; printf("no more faults\n") }
  od
}

/* ------------------------------------------------------------------ properties */

/* safety: check_safety(), after every step */

/* liveness, checked with weak fairness */
#define stop_requested (level != M_NONE)   /* only a stop request raises the level */
ltl stop_terminates     { [] (stop_requested -> <> terminal) }
ltl checkpoint_resolves { [] ((inflight > 0) -> <> (inflight == 0)) }
ltl recovery_resolves   { [] (st == RECOVERING -> <> (st == RUNNING || terminal)) }

/* witnesses: each must be reachable (the check expects a counterexample), so that no
   property above holds for want of the situation it is about */
ltl reach_checkpoint_stop    { [] !(st == STOPPED && level == M_CKPT) }
ltl reach_graceful_stop      { [] !(st == STOPPED && sjmode == M_GRACE) }
ltl reach_force_stop         { [] !(st == STOPPED && level == M_FORCE) }
ltl reach_final_task_failure { [] !(g_final_fail && terminal) }
ltl reach_tolerated_failure  { [] !(st == RUNNING && fails == TOL) }
ltl reach_recovered          { [] !(st == RUNNING && gen == BUDGET + 1) }
ltl reach_commits_resent     { [] !(st == RUNNING && gen > 1 && commit_pend != 0) }
ltl reach_failed_budget      { [] !(st == FAILED && stopped_ok) }
ltl reach_failed_kill        { [] !(st == FAILED && !stopped_ok) }
ltl reach_finished           { [] !(st == FINISHED) }
ltl reach_finished_again     { [] !(st == FINISHED && gen > 1) }
ltl reach_request_now        { [] !(g_req_done & R_NOW) }
ltl reach_request_queued     { [] !(g_req_done & R_QUEUED) }
ltl reach_all_ended_in_final { [] !(g_told == ALLT && FINAL_PHASE) }

/* the safety search: a claim that never fails, so that the search checks check_safety()'s
   assertions alone, in every reachable state (one search for every safety property) */
never safety {
  do
  :: true
  od
}

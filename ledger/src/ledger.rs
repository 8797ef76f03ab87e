//! The running ledger: one writer thread with group commit, and readers that never wait for it.
//!
//! Callers submit commands into a bounded queue. The writer takes everything queued (up to
//! `batch_commands_max` commands), stages it against the committed state, writes the batch as one
//! sled key, flushes, applies it to the shared state under a short write lock, and only then
//! answers every caller in the batch. One flush buys durability for the whole batch. Readers take
//! a read lock on the committed state, so they see only what is durable.

use crate::account::{Account, Balances};
use crate::command::{Command, CommandResult};
use crate::engine::{due_holds, stage_batch, JournalLookup, PendingOverlay, StagedBatch};
use crate::ids::{AccountId, EntryId, Sequence, Timestamp};
use crate::record::{record_hash, EntryRecord, RecordBody, StoredBatch, StoredRecord};
use crate::signing::{checkpoint_signature_is_valid, load_or_create_signing_key, sign_checkpoint};
use crate::state::{HistoryItem, Hold, State};
use crate::store::Store;
use crate::verify::{verify_journal, VerifyReport};
use crate::Fault;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use ed25519_dalek::{SigningKey, VerifyingKey};
use parking_lot::RwLock;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Default most commands in one group commit.
pub const BATCH_COMMANDS_MAX_DEFAULT: usize = 8190;
/// Default most submissions waiting in the writer's queue; beyond it `try_submit` says Overloaded.
pub const QUEUE_SUBMISSIONS_MAX_DEFAULT: usize = 65_536;
/// How often an idle writer wakes to expire due holds.
pub const EXPIRY_TICK_DEFAULT: Duration = Duration::from_millis(500);
/// Most history lines one page returns.
pub const HISTORY_PAGE_LIMIT_MAX: usize = 1000;

/// Where time comes from. The ledger never reads a clock on its own; the writer asks this one once
/// per batch, and tests pass a [`ManualClock`].
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock { micros: AtomicI64::new(start.0) }
    }

    pub fn set(&self, at: Timestamp) {
        self.micros.store(at.0, Ordering::SeqCst);
    }

    pub fn advance_micros(&self, micros: i64) {
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::SeqCst))
    }
}

/// A committed batch, as an observer sees it.
#[derive(Debug, Clone, Copy)]
pub struct CommittedBatch<'a> {
    pub first_sequence: Sequence,
    pub timestamp: Timestamp,
    pub records: &'a [RecordBody],
}

/// Told about every committed batch, in order: once per batch while the journal is replayed on
/// open, then after each commit (on the writer thread, after the state has the batch and before
/// any caller in it is answered). This is how the service keeps projections of the journal
/// (parties, payments, events) in step with it. Keep it fast and infallible: it runs on the
/// commit path.
pub trait CommitObserver: Send + Sync + 'static {
    fn committed(&self, batch: CommittedBatch<'_>, state: &State);
}

/// How to open a ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// Holds `journal.sled/` and `signing.key`.
    pub directory: PathBuf,
    pub batch_commands_max: usize,
    pub queue_submissions_max: usize,
    pub expiry_tick: Duration,
}

impl LedgerConfig {
    pub fn new(directory: impl Into<PathBuf>) -> LedgerConfig {
        LedgerConfig {
            directory: directory.into(),
            batch_commands_max: BATCH_COMMANDS_MAX_DEFAULT,
            queue_submissions_max: QUEUE_SUBMISSIONS_MAX_DEFAULT,
            expiry_tick: EXPIRY_TICK_DEFAULT,
        }
    }
}

/// Counters the writer keeps, for `/metrics` and benchmarks.
#[derive(Debug, Default)]
pub struct WriterMetrics {
    pub batches_committed: AtomicU64,
    pub records_committed: AtomicU64,
    pub commands_processed: AtomicU64,
    pub last_batch_commands: AtomicU64,
    pub flush_micros_total: AtomicU64,
    /// Batches staged while the batch before them was still being made durable (on its
    /// [`PendingOverlay`]): how often the writer's pipeline overlapped CPU work with a flush.
    pub batches_staged_on_pending: AtomicU64,
    /// Commands per batch as a histogram: bucket `i` counts batches of at most
    /// [`BATCH_SIZE_BUCKETS`]`[i]` commands (cumulative counts are built when rendering).
    pub batch_size_buckets: [AtomicU64; BATCH_SIZE_BUCKETS.len()],
}

/// Upper bounds of the batch-size histogram buckets (commands per group commit).
pub const BATCH_SIZE_BUCKETS: [u64; 14] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];

impl WriterMetrics {
    fn record_batch_size(&self, commands: u64) {
        let bucket =
            BATCH_SIZE_BUCKETS.iter().position(|bound| commands <= *bound).unwrap_or(BATCH_SIZE_BUCKETS.len() - 1);
        self.batch_size_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

type Reply = Result<Vec<CommandResult>, Fault>;

struct Submission {
    commands: Vec<Command>,
    /// Records these commands may write at most (a linked group counts each command in it).
    weight: usize,
    reply: oneshot::Sender<Reply>,
}

fn submission_weight(commands: &[Command]) -> usize {
    commands
        .iter()
        .map(|command| match command {
            Command::Linked(inner) => inner.len().max(1),
            _ => 1,
        })
        .sum()
}

#[derive(Debug)]
struct Shared {
    state: RwLock<State>,
    store: Store,
    public_key: VerifyingKey,
    metrics: WriterMetrics,
    /// Set when the writer stopped on a fault; later submissions get it back.
    stopped: parking_lot::Mutex<Option<Fault>>,
    observer: Option<Arc<dyn CommitObserver>>,
}

impl std::fmt::Debug for dyn CommitObserver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CommitObserver")
    }
}

/// The answer to a submission, to wait for.
#[derive(Debug)]
pub struct Ticket {
    receiver: oneshot::Receiver<Reply>,
}

impl Ticket {
    /// Blocks until the batch holding these commands is durable (or failed). Not for async code.
    pub fn wait(self) -> Reply {
        self.receiver.blocking_recv().unwrap_or(Err(Fault::WriterStopped))
    }

    /// Waits without blocking a thread, for async callers.
    pub async fn wait_async(self) -> Reply {
        self.receiver.await.unwrap_or(Err(Fault::WriterStopped))
    }
}

/// An open ledger: submit commands to it, read from it through [`Ledger::reader`].
#[derive(Debug)]
pub struct Ledger {
    sender: Option<Sender<Submission>>,
    submission_weight_max: usize,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Submission").field("commands", &self.commands.len()).finish()
    }
}

impl Ledger {
    /// Opens the ledger in `config.directory`, replaying the journal into memory.
    pub fn open(config: LedgerConfig, clock: Arc<dyn Clock>) -> Result<Ledger, Fault> {
        Ledger::open_observed(config, clock, None)
    }

    /// Opens the ledger and tells `observer` about every batch, replayed and new.
    pub fn open_observed(
        config: LedgerConfig,
        clock: Arc<dyn Clock>,
        observer: Option<Arc<dyn CommitObserver>>,
    ) -> Result<Ledger, Fault> {
        let store = Store::open(&config.directory)?;
        let signing_key = load_or_create_signing_key(&config.directory)?;
        let public_key = signing_key.verifying_key();
        match store.public_key()? {
            None => store.set_public_key(public_key.to_bytes())?,
            Some(stored) if stored == public_key.to_bytes() => {}
            Some(_) => {
                return Err(Fault::Key("signing.key does not match the public key recorded in the journal".into()))
            }
        }
        let state = replay(&store, &public_key, observer.as_deref())?;
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            store,
            public_key,
            metrics: WriterMetrics::default(),
            stopped: parking_lot::Mutex::new(None),
            observer,
        });
        let (sender, receiver) = crossbeam_channel::bounded(config.queue_submissions_max.max(1));
        let submission_weight_max = config.batch_commands_max.max(1);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer_loop(&writer_shared, &receiver, &signing_key, clock.as_ref(), &config))
            .map_err(|error| Fault::Storage(format!("spawning the writer thread: {error}")))?;
        Ok(Ledger { sender: Some(sender), submission_weight_max, shared, writer: Some(writer) })
    }

    /// Queues commands, waiting for room if the queue is full. One submission may hold at most
    /// `batch_commands_max` commands (counting those inside linked groups): it commits in one batch.
    pub fn submit(&self, commands: Vec<Command>) -> Result<Ticket, Fault> {
        let (submission, receiver) = self.prepare(commands)?;
        let sender = self.sender.as_ref().ok_or(Fault::WriterStopped)?;
        sender.send(submission).map_err(|_| self.stop_reason())?;
        Ok(Ticket { receiver })
    }

    fn prepare(&self, commands: Vec<Command>) -> Result<(Submission, oneshot::Receiver<Reply>), Fault> {
        let weight = submission_weight(&commands);
        if weight > self.submission_weight_max {
            return Err(Fault::SubmissionTooLarge { commands: weight, max: self.submission_weight_max });
        }
        let (reply, receiver) = oneshot::channel();
        Ok((Submission { commands, weight, reply }, receiver))
    }

    /// Queues commands, or says [`Fault::Overloaded`] at once if the queue is full.
    pub fn try_submit(&self, commands: Vec<Command>) -> Result<Ticket, Fault> {
        let (submission, receiver) = self.prepare(commands)?;
        let sender = self.sender.as_ref().ok_or(Fault::WriterStopped)?;
        match sender.try_send(submission) {
            Ok(()) => Ok(Ticket { receiver }),
            Err(TrySendError::Full(_)) => Err(Fault::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(self.stop_reason()),
        }
    }

    /// Submits one command and blocks until it is durable or rejected.
    pub fn execute(&self, command: Command) -> Result<CommandResult, Fault> {
        let mut results = self.submit(vec![command])?.wait()?;
        results.pop().ok_or_else(|| Fault::Corrupt("the writer returned no result".into()))
    }

    pub fn reader(&self) -> LedgerReader {
        LedgerReader { shared: Arc::clone(&self.shared) }
    }

    /// Submissions waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.sender.as_ref().map_or(0, Sender::len)
    }

    /// Stops accepting commands, lets the writer finish what is queued, and waits for it.
    pub fn close(mut self) -> Result<(), Fault> {
        self.shutdown();
        match self.shared.stopped.lock().clone() {
            Some(fault) => Err(fault),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            // A panicking writer already reported through its waiters; nothing more to do here.
            let _ = writer.join();
        }
    }

    fn stop_reason(&self) -> Fault {
        self.shared.stopped.lock().clone().unwrap_or(Fault::WriterStopped)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Rebuilds the in-memory state from the journal. Trusts stored hashes (verify recomputes them)
/// but applies every record with the full rules, so a journal that does not obey them won't open.
fn replay(store: &Store, public_key: &VerifyingKey, observer: Option<&dyn CommitObserver>) -> Result<State, Fault> {
    let mut state = State::new();
    let mut last_batch: Option<StoredBatch> = None;
    for item in store.batches() {
        let (key, bytes) = item?;
        let batch = StoredBatch::decode(&bytes).map_err(|error| Fault::Corrupt(format!("batch {key}: {error}")))?;
        if key != batch.first_sequence || batch.first_sequence != state.last_sequence() + 1 || batch.records.is_empty()
        {
            return Err(Fault::Corrupt(format!("batch {key} does not follow sequence {}", state.last_sequence())));
        }
        let bodies = batch
            .records
            .iter()
            .enumerate()
            .map(|(offset, record)| {
                RecordBody::decode(&record.body).map_err(|error| {
                    Fault::Corrupt(format!("record {}: {error}", batch.first_sequence + offset as u64))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hashes: Vec<[u8; 32]> = batch.records.iter().map(|record| record.hash).collect();
        state.apply_committed_batch(batch.first_sequence, batch.timestamp, &bodies, &hashes, batch.signature).map_err(
            |(sequence, rejection)| Fault::Corrupt(format!("record {sequence} breaks a ledger rule: {rejection}")),
        )?;
        if let Some(observer) = observer {
            let committed =
                CommittedBatch { first_sequence: batch.first_sequence, timestamp: batch.timestamp, records: &bodies };
            observer.committed(committed, &state);
        }
        last_batch = Some(batch);
    }
    if let Some(batch) = last_batch {
        let head = batch.head_hash().unwrap_or(crate::record::GENESIS_HASH);
        if !checkpoint_signature_is_valid(public_key, batch.last_sequence(), &head, batch.timestamp, &batch.signature) {
            return Err(Fault::Corrupt(format!(
                "checkpoint signature of batch {} does not verify",
                batch.first_sequence
            )));
        }
    }
    Ok(state)
}

struct StoreLookup<'a> {
    store: &'a Store,
}

impl JournalLookup for StoreLookup<'_> {
    fn record(&self, sequence: Sequence) -> Result<RecordBody, Fault> {
        self.store.record(sequence)?.ok_or_else(|| Fault::Corrupt(format!("record {sequence} is missing")))
    }
}

/// A staged batch on its way to the disk, with the callers to answer once it is there.
struct SealedBatch {
    first_sequence: Sequence,
    timestamp: Timestamp,
    records: Arc<Vec<RecordBody>>,
    results: Vec<CommandResult>,
    /// The encoded batch, the chain hash after each record and the checkpoint signature; empty
    /// when the batch wrote nothing (every command rejected or a duplicate).
    encoded: Vec<u8>,
    hashes: Vec<[u8; 32]>,
    signature: [u8; 64],
    submissions: Vec<Submission>,
}

/// The last batch that wrote records, kept for staging the next one until it is applied.
struct Pending {
    overlay: PendingOverlay,
    /// The chain hash after its last record: the next batch chains on it.
    head_hash: [u8; 32],
}

/// The writer's first half: gathers submissions, stages them into records, encodes, hashes and
/// signs them, and hands the batch to the flusher ([`flusher_loop`]). While the flusher writes
/// and `fsync`s batch K, this thread already stages batch K+1 on top of K's [`PendingOverlay`]:
/// the disk wait and the CPU work overlap instead of taking turns. A batch is staged only once
/// the batch before the pending one is applied, so it always sees the committed state plus at
/// most one pending batch.
fn writer_loop(
    shared: &Arc<Shared>,
    receiver: &Receiver<Submission>,
    signing_key: &SigningKey,
    clock: &dyn Clock,
    config: &LedgerConfig,
) {
    // One sealed batch waits while the flusher works on the one before it.
    let (flush_sender, flush_receiver) = crossbeam_channel::bounded::<SealedBatch>(1);
    let (applied_sender, applied_receiver) = crossbeam_channel::unbounded::<()>();
    let flusher_shared = Arc::clone(shared);
    let flusher = std::thread::Builder::new()
        .name("ledger-flusher".into())
        .spawn(move || flusher_loop(&flusher_shared, &flush_receiver, &applied_sender));
    match flusher {
        Ok(flusher) => {
            stage_loop(shared, receiver, signing_key, clock, config, &flush_sender, &applied_receiver);
            // Dropping the sender lets the flusher finish and answer what it holds, then stop.
            drop(flush_sender);
            // A panicking flusher already failed its callers (their reply senders were dropped).
            let _ = flusher.join();
        }
        Err(error) => {
            let fault = Fault::Storage(format!("spawning the flusher thread: {error}"));
            stop_writer(shared, &fault, receiver, Vec::new());
        }
    }
}

/// Records the fault (the first one stays), answers the given callers and everything still
/// queued with it. Later submissions find the queue closed and get the fault from `stopped`.
fn stop_writer(shared: &Shared, fault: &Fault, receiver: &Receiver<Submission>, mut waiting: Vec<Submission>) {
    let fault = shared.stopped.lock().get_or_insert_with(|| fault.clone()).clone();
    waiting.extend(receiver.try_iter());
    for submission in waiting {
        let _ = submission.reply.send(Err(fault.clone()));
    }
}

/// Most batches handed to the flusher and not yet applied when the next one is staged: the one
/// the next batch stages on top of (its [`PendingOverlay`]).
const UNAPPLIED_BATCHES_WHEN_STAGING_MAX: usize = 1;

fn stage_loop(
    shared: &Shared,
    receiver: &Receiver<Submission>,
    signing_key: &SigningKey,
    clock: &dyn Clock,
    config: &LedgerConfig,
    flush_sender: &Sender<SealedBatch>,
    applied_receiver: &Receiver<()>,
) {
    // Records of the pending batch are found in its overlay; the journal has the rest.
    let lookup = StoreLookup { store: &shared.store };
    // A submission that did not fit in the previous batch opens the next one.
    let mut carried: Option<Submission> = None;
    let mut pending: Option<Pending> = None;
    // Batches handed to the flusher and not yet answered.
    let mut unapplied = 0usize;
    loop {
        let mut submissions: Vec<Submission> = Vec::new();
        let first = match carried.take() {
            Some(submission) => Some(submission),
            None => match receiver.recv_timeout(config.expiry_tick) {
                Ok(submission) => Some(submission),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        submissions.extend(first);
        // The flusher answers in order; wait until at most the pending batch is unapplied.
        while unapplied > UNAPPLIED_BATCHES_WHEN_STAGING_MAX {
            if applied_receiver.recv().is_err() {
                // The flusher is gone (it panicked on a broken invariant): nothing more is durable.
                submissions.extend(carried.take());
                stop_writer(shared, &Fault::WriterStopped, receiver, submissions);
                return;
            }
            unapplied -= 1;
        }
        unapplied -= applied_receiver.try_iter().count().min(unapplied);
        // Everything that arrived meanwhile joins this batch, up to the batch limit.
        let mut command_count: usize = submissions.iter().map(|submission| submission.weight).sum();
        while command_count < config.batch_commands_max {
            match receiver.try_recv() {
                Ok(submission) if command_count + submission.weight > config.batch_commands_max => {
                    carried = Some(submission);
                    break;
                }
                Ok(submission) => {
                    command_count += submission.weight;
                    submissions.push(submission);
                }
                Err(_) => break,
            }
        }
        let stopped = shared.stopped.lock().clone();
        if let Some(fault) = stopped {
            submissions.extend(carried.take());
            stop_writer(shared, &fault, receiver, submissions);
            return;
        }
        let staged = {
            let state = shared.state.read();
            if pending.as_ref().is_some_and(|pending| !pending.overlay.applies_on(&state)) {
                pending = None;
            }
            let overlay = pending.as_ref().map(|pending| &pending.overlay);
            let now =
                clock.now().max(state.last_timestamp()).max(overlay.map_or(Timestamp(0), PendingOverlay::timestamp));
            if submissions.is_empty() && due_holds(&state, overlay, now).is_empty() {
                continue;
            }
            if overlay.is_some() {
                shared.metrics.batches_staged_on_pending.fetch_add(1, Ordering::Relaxed);
            }
            let previous_hash = pending.as_ref().map_or(state.head_hash(), |pending| pending.head_hash);
            let commands = submissions.iter().flat_map(|submission| submission.commands.iter());
            stage_batch(&state, overlay, &lookup, commands, now).map(|staged| (staged, previous_hash))
        };
        let (staged, previous_hash) = match staged {
            Ok(staged) => staged,
            Err(fault) => {
                submissions.extend(carried.take());
                stop_writer(shared, &fault, receiver, submissions);
                return;
            }
        };
        let StagedBatch { first_sequence, timestamp, records, results, overlay } = staged;
        let mut batch = SealedBatch {
            first_sequence,
            timestamp,
            records,
            results,
            encoded: Vec::new(),
            hashes: Vec::new(),
            signature: [0; 64],
            submissions,
        };
        if !batch.records.is_empty() {
            seal(&mut batch, previous_hash, signing_key);
            let head_hash = batch.hashes.last().copied().unwrap_or(previous_hash);
            pending = Some(Pending { overlay, head_hash });
        }
        if let Err(crossbeam_channel::SendError(batch)) = flush_sender.send(batch) {
            let mut waiting = batch.submissions;
            waiting.extend(carried.take());
            stop_writer(shared, &Fault::WriterStopped, receiver, waiting);
            return;
        }
        unapplied += 1;
    }
}

/// Hashes the records into the chain after `previous_hash`, signs the checkpoint and encodes
/// the batch as it is stored.
fn seal(batch: &mut SealedBatch, previous_hash: [u8; 32], signing_key: &SigningKey) {
    let mut hash = previous_hash;
    let mut stored_records = Vec::with_capacity(batch.records.len());
    for (offset, body) in batch.records.iter().enumerate() {
        let encoded = body.encode();
        hash = record_hash(&hash, batch.first_sequence + offset as u64, batch.timestamp, &encoded);
        stored_records.push(StoredRecord { hash, body: encoded });
    }
    let last_sequence = batch.first_sequence + batch.records.len() as u64 - 1;
    batch.signature = sign_checkpoint(signing_key, last_sequence, &hash, batch.timestamp);
    batch.hashes = stored_records.iter().map(|record| record.hash).collect();
    batch.encoded = StoredBatch {
        first_sequence: batch.first_sequence,
        timestamp: batch.timestamp,
        signature: batch.signature,
        records: stored_records,
    }
    .encode();
}

/// The writer's second half: writes each sealed batch, flushes and `fsync`s it, applies it to
/// the shared state, tells the observer, and only then answers its callers. After a fault it
/// writes nothing more: the batches behind it were staged on top of the failed one, so their
/// callers get the fault too (fail-stop; retries with the same ids converge after a reopen).
fn flusher_loop(shared: &Shared, batches: &Receiver<SealedBatch>, applied: &Sender<()>) {
    for batch in batches {
        let stopped = shared.stopped.lock().clone();
        let outcome = match stopped {
            Some(fault) => Err(fault),
            None => commit_sealed(shared, &batch),
        };
        match outcome {
            Ok(()) => answer(batch),
            Err(fault) => {
                shared.stopped.lock().get_or_insert_with(|| fault.clone());
                for submission in batch.submissions {
                    let _ = submission.reply.send(Err(fault.clone()));
                }
            }
        }
        // The stager may be waiting for this; if it is gone, there is no one to tell.
        let _ = applied.send(());
    }
}

/// Makes one sealed batch durable and applies it (nothing to write for an empty one).
fn commit_sealed(shared: &Shared, batch: &SealedBatch) -> Result<(), Fault> {
    let command_count = batch.results.len() as u64;
    shared.metrics.commands_processed.fetch_add(command_count, Ordering::Relaxed);
    shared.metrics.last_batch_commands.store(command_count, Ordering::Relaxed);
    shared.metrics.record_batch_size(command_count);
    if batch.records.is_empty() {
        return Ok(());
    }
    let flush_started = Instant::now();
    shared.store.append_batch(batch.first_sequence, &batch.encoded)?;
    shared.metrics.flush_micros_total.fetch_add(flush_started.elapsed().as_micros() as u64, Ordering::Relaxed);
    let applied = shared.state.write().apply_committed_batch(
        batch.first_sequence,
        batch.timestamp,
        &batch.records,
        &batch.hashes,
        batch.signature,
    );
    if let Err((sequence, rejection)) = applied {
        // The batch was staged against this state (plus the batch before it) a moment ago; if
        // it no longer applies, the engine is broken and must not write another byte.
        panic!("committed record {sequence} does not apply to the state it was staged on: {rejection}");
    }
    if let Some(observer) = &shared.observer {
        let committed = CommittedBatch {
            first_sequence: batch.first_sequence,
            timestamp: batch.timestamp,
            records: &batch.records,
        };
        observer.committed(committed, &shared.state.read());
    }
    shared.metrics.batches_committed.fetch_add(1, Ordering::Relaxed);
    shared.metrics.records_committed.fetch_add(batch.records.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Gives each caller the results of its own commands.
fn answer(batch: SealedBatch) {
    let mut results = batch.results.into_iter();
    for submission in batch.submissions {
        let answer: Vec<CommandResult> = results.by_ref().take(submission.commands.len()).collect();
        // A caller that stopped waiting is not an error: its commands are committed all the same.
        let _ = submission.reply.send(Ok(answer));
    }
}

/// The head of the journal and its signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub last_sequence: Sequence,
    pub head_hash: [u8; 32],
    pub timestamp: Timestamp,
    pub signature: Option<[u8; 64]>,
    pub public_key: [u8; 32],
}

/// A point in the journal to read balances at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Sequence(Sequence),
    Time(Timestamp),
}

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub sequence: Sequence,
    pub timestamp: Timestamp,
    pub balances_after: Balances,
    pub entry: Option<EntryRecord>,
}

/// A page of history and the cursor (a sequence) to pass for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub lines: Vec<HistoryLine>,
    pub next_cursor: Option<Sequence>,
}

/// Read access to the committed ledger. Cheap to clone; never waits for the writer's flush.
#[derive(Debug, Clone)]
pub struct LedgerReader {
    shared: Arc<Shared>,
}

impl LedgerReader {
    pub fn account(&self, id: &AccountId) -> Option<Account> {
        self.shared.state.read().account_by_id(id).cloned()
    }

    pub fn hold(&self, id: &EntryId) -> Option<Hold> {
        self.shared.state.read().hold_by_id(id).cloned()
    }

    /// Balances of an account as of a sequence or a time (`None` if the account does not exist).
    pub fn balances_as_of(&self, id: &AccountId, as_of: AsOf) -> Option<Balances> {
        let state = self.shared.state.read();
        let index = crate::state::StateView::account_index(&*state, id)?;
        let sequence = match as_of {
            AsOf::Sequence(sequence) => sequence,
            AsOf::Time(at) => state.sequence_as_of_time(at),
        };
        Some(state.balances_as_of_sequence(index, sequence))
    }

    /// The committed entry with this id, with its sequence and timestamp.
    pub fn entry(&self, id: &EntryId) -> Result<Option<(Sequence, Timestamp, EntryRecord)>, Fault> {
        let (sequence, timestamp) = {
            let state = self.shared.state.read();
            let Some(sequence) = state.entry_sequence_by_id(id) else { return Ok(None) };
            (sequence, state.timestamp_of(sequence).unwrap_or_default())
        };
        match self.shared.store.record(sequence)? {
            Some(RecordBody::Entry(entry)) => Ok(Some((sequence, timestamp, entry))),
            _ => Ok(None),
        }
    }

    /// History of an account after the `after` cursor (exclusive), oldest first.
    pub fn history(&self, id: &AccountId, after: Option<Sequence>, limit: usize) -> Result<Option<HistoryPage>, Fault> {
        let limit = limit.clamp(1, HISTORY_PAGE_LIMIT_MAX);
        let (items, timestamps, more): (Vec<HistoryItem>, Vec<Timestamp>, bool) = {
            let state = self.shared.state.read();
            let Some(index) = crate::state::StateView::account_index(&*state, id) else { return Ok(None) };
            let history = state.history(index);
            let start = history.partition_point(|item| item.sequence <= after.unwrap_or(0));
            let page: Vec<HistoryItem> = history[start..].iter().take(limit).copied().collect();
            let timestamps = page.iter().map(|item| state.timestamp_of(item.sequence).unwrap_or_default()).collect();
            let more = history.len() > start + page.len();
            (page, timestamps, more)
        };
        let mut lines = Vec::with_capacity(items.len());
        let mut cached: Option<StoredBatch> = None;
        for (item, timestamp) in items.iter().zip(timestamps) {
            let batch_holds = cached
                .as_ref()
                .is_some_and(|batch| batch.first_sequence <= item.sequence && item.sequence <= batch.last_sequence());
            if !batch_holds {
                cached = self.shared.store.batch_holding(item.sequence)?;
            }
            let entry = cached
                .as_ref()
                .and_then(|batch| batch.records.get((item.sequence - batch.first_sequence) as usize))
                .map(|record| RecordBody::decode(&record.body))
                .transpose()
                .map_err(|error| Fault::Corrupt(format!("record {}: {error}", item.sequence)))?
                .and_then(|body| match body {
                    RecordBody::Entry(entry) => Some(entry),
                    _ => None,
                });
            lines.push(HistoryLine { sequence: item.sequence, timestamp, balances_after: item.balances, entry });
        }
        let next_cursor = if more { lines.last().map(|line| line.sequence) } else { None };
        Ok(Some(HistoryPage { lines, next_cursor }))
    }

    /// Calls `visit` with every committed entry whose sequence is in `after..=up_to`, in order,
    /// with its sequence and batch timestamp. Reads the journal from disk: for reports, not for
    /// the request path.
    pub fn for_each_entry_between(
        &self,
        after: Sequence,
        up_to: Sequence,
        mut visit: impl FnMut(Sequence, Timestamp, &EntryRecord),
    ) -> Result<(), Fault> {
        let up_to = up_to.min(self.shared.state.read().last_sequence());
        if up_to <= after {
            return Ok(());
        }
        for item in self.shared.store.batches_from(after + 1) {
            let (first_sequence, bytes) = item?;
            if first_sequence > up_to {
                break;
            }
            let batch = StoredBatch::decode(&bytes)
                .map_err(|error| Fault::Corrupt(format!("batch {first_sequence}: {error}")))?;
            for (offset, stored) in batch.records.iter().enumerate() {
                let sequence = first_sequence + offset as u64;
                if sequence <= after || sequence > up_to {
                    continue;
                }
                let body = RecordBody::decode(&stored.body)
                    .map_err(|error| Fault::Corrupt(format!("record {sequence}: {error}")))?;
                if let RecordBody::Entry(entry) = body {
                    visit(sequence, batch.timestamp, &entry);
                }
            }
        }
        Ok(())
    }

    /// The hash chain's value right after `sequence` (`None` past the head or for 0).
    pub fn record_hash_at(&self, sequence: Sequence) -> Result<Option<[u8; 32]>, Fault> {
        if sequence == 0 || sequence > self.shared.state.read().last_sequence() {
            return Ok(None);
        }
        Ok(self
            .shared
            .store
            .batch_holding(sequence)?
            .and_then(|batch| batch.records.get((sequence - batch.first_sequence) as usize).map(|record| record.hash)))
    }

    /// The fault that stopped the writer, if it stopped (a full disk, a storage error): the
    /// ledger still answers reads but refuses every write until it is reopened.
    pub fn writer_fault(&self) -> Option<Fault> {
        self.shared.stopped.lock().clone()
    }

    pub fn checkpoint(&self) -> Checkpoint {
        let state = self.shared.state.read();
        Checkpoint {
            last_sequence: state.last_sequence(),
            head_hash: state.head_hash(),
            timestamp: state.last_timestamp(),
            signature: state.last_signature(),
            public_key: self.shared.public_key.to_bytes(),
        }
    }

    pub fn metrics(&self) -> &WriterMetrics {
        &self.shared.metrics
    }

    /// Runs a closure on the committed state under the read lock (keep it short).
    pub fn with_state<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.shared.state.read())
    }

    /// Recomputes the hash chain, signatures and every balance from the journal, and compares the
    /// balances with the running state at the verified head.
    pub fn verify(&self) -> Result<VerifyReport, Fault> {
        verify_journal(&self.shared.store, &self.shared.public_key, Some(&self.shared.state))
    }
}

impl ManualClock {
    /// The current reading (tests use it to compute deadlines).
    pub fn now_for_tests(&self) -> Timestamp {
        Clock::now(self)
    }
}

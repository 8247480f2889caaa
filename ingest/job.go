package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// JobStatus is the state of an ingest job.
type JobStatus string

// Job states. Queued and Running jobs are resumed after a restart; the others are final.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobCanceled  JobStatus = "canceled"
)

// Final reports whether the job will not change any more.
func (s JobStatus) Final() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCanceled
}

// Job is one file being ingested into a knowledge base.
type Job struct {
	ID       string            `json:"id"`
	KB       string            `json:"kb"`
	Name     string            `json:"name"`
	Size     int64             `json:"size"`
	Meta     map[string]string `json:"meta,omitempty"`
	Status   JobStatus         `json:"status"`
	Progress Progress          `json:"progress"`
	// Fraction is the overall completion between 0 and 1.
	Fraction float64 `json:"fraction"`
	Error    string  `json:"error,omitempty"`
	Result   *Result `json:"result,omitempty"`
	Attempts int     `json:"attempts"`
	// Force re-indexes even identical content (a re-ingest).
	Force   bool      `json:"force,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// ErrJobNotFound is returned for an unknown job ID.
var ErrJobNotFound = errors.New("job not found")

var jobsBucket = []byte("jobs")

// Jobs runs ingest jobs in the background. Each submitted file is first
// spooled to disk and recorded, so that jobs queued or running when the
// process stops are resumed when it starts again; because a document is put
// into the index atomically and identical content is a no-op, running a
// job twice never duplicates or half-writes a document.
type Jobs struct {
	dir      string
	db       *bolt.DB
	pipeline *Pipeline
	log      *slog.Logger

	queue chan string

	mu       sync.Mutex
	live     map[string]*Job               // running and queued jobs, with in-memory progress
	cancels  map[string]context.CancelFunc // running jobs
	canceled map[string]bool               // cancel asked by a user (vs. shutdown)
	watchers map[string][]chan Job
	closed   bool

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// OpenJobs opens (or creates) the job store in dir and starts workers
// goroutines that run jobs through p. Unfinished jobs found in dir are queued again.
func OpenJobs(dir string, p *Pipeline, workers int) (*Jobs, error) {
	if workers < 1 {
		workers = 1
	}
	for _, sub := range []string{"spool", "originals"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open jobs %s: %w", dir, err)
		}
	}
	db, err := bolt.Open(filepath.Join(dir, "jobs.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open jobs %s: %w (is another zhiwen process using this data directory?)", dir, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(jobsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open jobs %s: %w", dir, err)
	}
	log := slog.Default()
	if p != nil && p.Logger != nil {
		log = p.Logger
	}
	j := &Jobs{
		dir: dir, db: db, pipeline: p, log: log,
		queue:    make(chan string, 1<<16),
		live:     map[string]*Job{},
		cancels:  map[string]context.CancelFunc{},
		canceled: map[string]bool{},
		watchers: map[string][]chan Job{},
	}
	// Resume what a previous run left unfinished, oldest first.
	all, err := j.List("", 0)
	if err != nil {
		db.Close()
		return nil, err
	}
	sort.Slice(all, func(a, b int) bool { return all[a].Created.Before(all[b].Created) })
	for _, job := range all {
		if !job.Status.Final() {
			job := job
			job.Status = JobQueued
			job.Progress = Progress{Stage: StageQueued}
			j.live[job.ID] = &job
			j.queue <- job.ID
			log.Info("resuming ingest job", "job", job.ID, "kb", job.KB, "file", job.Name)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	j.stop = stop
	for i := 0; i < workers; i++ {
		j.wg.Add(1)
		go j.work(ctx)
	}
	return j, nil
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

func (j *Jobs) spoolPath(id string) string { return filepath.Join(j.dir, "spool", id) }

// OriginalPath is where the original bytes of a successfully ingested file
// with content hash hash are kept.
func (j *Jobs) OriginalPath(hash string) string { return filepath.Join(j.dir, "originals", hash) }

// Submit spools the file read from r (at most the pipeline's MaxFileBytes)
// and queues it for ingest into kb.
func (j *Jobs) Submit(kb, name string, r io.Reader, meta map[string]string) (Job, error) {
	return j.submit(kb, name, r, meta, false)
}

// SubmitReingest is Submit for a file whose identical content is already
// stored: it is parsed and indexed again (after a parser or chunking change).
func (j *Jobs) SubmitReingest(kb, name string, r io.Reader, meta map[string]string) (Job, error) {
	return j.submit(kb, name, r, meta, true)
}

func (j *Jobs) submit(kb, name string, r io.Reader, meta map[string]string, force bool) (Job, error) {
	limit := j.pipeline.Limits.MaxFileBytes
	id := newJobID()
	tmp := j.spoolPath(id) + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return Job{}, fmt.Errorf("spool %s: %w", name, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("%w: %s is over the %d-byte limit", ErrTooLarge, name, limit)
	}
	if err == nil {
		// Refuse a file of an unreadable type now rather than as a failed job.
		var data []byte
		if data, err = os.ReadFile(tmp); err == nil {
			_, err = DetectFormat(name, data, j.pipeline.Limits)
		}
	}
	if err == nil {
		err = os.Rename(tmp, j.spoolPath(id))
	}
	if err != nil {
		os.Remove(tmp)
		return Job{}, fmt.Errorf("upload %s: %w", name, err)
	}
	now := time.Now().UTC()
	job := Job{ID: id, KB: kb, Name: name, Size: n, Meta: meta, Force: force, Status: JobQueued,
		Progress: Progress{Stage: StageQueued}, Created: now, Updated: now}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		os.Remove(j.spoolPath(id))
		return Job{}, errors.New("submit: job runner is shut down")
	}
	if err := j.save(job); err != nil {
		j.mu.Unlock()
		os.Remove(j.spoolPath(id))
		return Job{}, err
	}
	j.live[id] = &job
	j.mu.Unlock()
	j.queue <- id
	return job, nil
}

func (j *Jobs) save(job Job) error {
	b, err := json.Marshal(job)
	if err != nil {
		return err
	}
	return j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).Put([]byte(job.ID), b)
	})
}

// Get returns a job, with live progress when it is running.
func (j *Jobs) Get(id string) (Job, error) {
	j.mu.Lock()
	if lj, ok := j.live[id]; ok {
		job := *lj
		j.mu.Unlock()
		return job, nil
	}
	j.mu.Unlock()
	var job Job
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(jobsBucket).Get([]byte(id))
		if b == nil {
			return fmt.Errorf("job %s: %w", id, ErrJobNotFound)
		}
		return json.Unmarshal(b, &job)
	})
	return job, err
}

// List returns jobs of knowledge base kb (all when kb is empty), newest
// first, at most limit of them (all when limit is 0).
func (j *Jobs) List(kb string, limit int) ([]Job, error) {
	var out []Job
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(k, v []byte) error {
			var job Job
			if err := json.Unmarshal(v, &job); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			if kb == "" || job.KB == kb {
				out = append(out, job)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	j.mu.Lock()
	for i := range out {
		if lj, ok := j.live[out[i].ID]; ok {
			out[i] = *lj
		}
	}
	j.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Cancel stops a queued or running job. A canceled job leaves the knowledge
// base as it was before the job started.
func (j *Jobs) Cancel(id string) error {
	j.mu.Lock()
	lj, ok := j.live[id]
	if !ok {
		j.mu.Unlock()
		if _, err := j.Get(id); err != nil {
			return err
		}
		return nil // already final
	}
	j.canceled[id] = true
	if cancel, running := j.cancels[id]; running {
		j.mu.Unlock()
		cancel()
		return nil
	}
	// Queued: finish it here; the worker skips it when it comes up.
	lj.Status = JobCanceled
	lj.Updated = time.Now().UTC()
	job := *lj
	delete(j.live, id)
	j.mu.Unlock()
	os.Remove(j.spoolPath(id))
	if err := j.save(job); err != nil {
		return err
	}
	j.notify(job)
	return nil
}

// Watch returns a channel that receives the job each time it changes,
// starting with its current state, and is closed once the job is final or ctx ends.
func (j *Jobs) Watch(ctx context.Context, id string) (<-chan Job, error) {
	job, err := j.Get(id)
	if err != nil {
		return nil, err
	}
	ch := make(chan Job, 16)
	ch <- job
	if job.Status.Final() {
		close(ch)
		return ch, nil
	}
	j.mu.Lock()
	// Re-check under the lock so that a job finishing in between is not missed.
	if lj, live := j.live[id]; !live || lj.Status.Final() {
		if live {
			job = *lj
		}
		j.mu.Unlock()
		if !live {
			job, err = j.Get(id)
		}
		if err == nil {
			ch <- job
		}
		close(ch)
		return ch, nil
	}
	j.watchers[id] = append(j.watchers[id], ch)
	j.mu.Unlock()
	go func() {
		<-ctx.Done()
		j.unwatch(id, ch)
	}()
	return ch, nil
}

func (j *Jobs) unwatch(id string, ch chan Job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ws := j.watchers[id]
	for i, w := range ws {
		if w == ch {
			j.watchers[id] = append(ws[:i], ws[i+1:]...)
			close(ch)
			break
		}
	}
	if len(j.watchers[id]) == 0 {
		delete(j.watchers, id)
	}
}

// notify sends job to its watchers without blocking: a slow watcher misses
// intermediate progress but always gets the final state.
func (j *Jobs) notify(job Job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, ch := range j.watchers[job.ID] {
		if job.Status.Final() {
			// Make room so the final state is never dropped.
			for len(ch) == cap(ch) {
				<-ch
			}
		}
		select {
		case ch <- job:
		default:
		}
		if job.Status.Final() {
			close(ch)
		}
	}
	if job.Status.Final() {
		delete(j.watchers, job.ID)
	}
}

// Wait blocks until the job is final or ctx ends.
func (j *Jobs) Wait(ctx context.Context, id string) (Job, error) {
	ch, err := j.Watch(ctx, id)
	if err != nil {
		return Job{}, err
	}
	var last Job
	for job := range ch {
		last = job
	}
	if !last.Status.Final() {
		return last, ctx.Err()
	}
	return last, nil
}

func (j *Jobs) work(ctx context.Context) {
	defer j.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-j.queue:
			j.run(ctx, id)
		}
	}
}

func (j *Jobs) run(parent context.Context, id string) {
	j.mu.Lock()
	lj, ok := j.live[id]
	if !ok || lj.Status != JobQueued || parent.Err() != nil {
		j.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	j.cancels[id] = cancel
	lj.Status = JobRunning
	lj.Attempts++
	lj.Updated = time.Now().UTC()
	job := *lj
	j.mu.Unlock()
	if err := j.save(job); err != nil {
		j.log.Error("save job", "job", id, "err", err)
	}
	j.notify(job)

	var res Result
	data, err := os.ReadFile(j.spoolPath(id))
	if err == nil {
		res, err = j.pipeline.Ingest(ctx, job.KB, job.Name, data, Options{Meta: job.Meta, Force: job.Force, Progress: func(p Progress) {
			j.mu.Lock()
			lj, ok := j.live[id]
			if !ok {
				j.mu.Unlock()
				return
			}
			lj.Progress = p
			lj.Fraction = p.Fraction()
			lj.Updated = time.Now().UTC()
			snap := *lj
			j.mu.Unlock()
			j.notify(snap)
		}})
	} else {
		err = fmt.Errorf("read spooled upload: %w", err)
	}

	j.mu.Lock()
	delete(j.cancels, id)
	userCanceled := j.canceled[id]
	delete(j.canceled, id)
	lj = j.live[id]
	switch {
	case err == nil:
		lj.Status = JobSucceeded
		lj.Result = &res
		lj.Progress = Progress{Stage: StageDone, Done: res.Chunks, Total: res.Chunks}
		lj.Fraction = 1
		lj.Error = ""
	case userCanceled:
		lj.Status = JobCanceled
		lj.Error = "canceled"
	case parent.Err() != nil:
		// Shutting down: park the job so the next start resumes it.
		lj.Status = JobQueued
		lj.Progress = Progress{Stage: StageQueued}
		lj.Fraction = 0
	default:
		lj.Status = JobFailed
		lj.Error = err.Error()
	}
	lj.Updated = time.Now().UTC()
	job = *lj
	j.mu.Unlock()

	if job.Status == JobSucceeded && job.Result != nil && !job.Result.Unchanged {
		// Keep the original file, by content hash, for downloads and re-ingest.
		if err := os.Rename(j.spoolPath(id), j.OriginalPath(job.Result.Hash)); err != nil {
			j.log.Warn("keep original", "job", id, "err", err)
		}
	}
	if job.Status.Final() {
		os.Remove(j.spoolPath(id))
	}
	if err := j.save(job); err != nil {
		j.log.Error("save job", "job", id, "err", err)
	}
	switch job.Status {
	case JobFailed:
		j.log.Warn("ingest failed", "job", id, "kb", job.KB, "file", job.Name, "err", job.Error)
	case JobQueued:
		j.log.Info("ingest parked for restart", "job", id, "file", job.Name)
	}
	j.notify(job)
	// Only now, with the final state saved and sent, may Get read it from the database.
	j.mu.Lock()
	if job.Status.Final() {
		delete(j.live, id)
	}
	j.mu.Unlock()
}

// Close stops the workers. Running jobs are interrupted and parked as
// queued (their documents are untouched, since the index writes each one
// atomically); they resume on the next OpenJobs.
func (j *Jobs) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	j.stop()
	j.wg.Wait()
	return j.db.Close()
}

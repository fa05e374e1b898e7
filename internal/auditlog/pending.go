package auditlog

// Pending is a submitted record on its way to disk.
type Pending struct {
	rec  Record
	done chan struct{}
	err  error
	seq  uint64
	hash string
	w    *Writer // nil for a Pending that failed at once
	// then, when set, is told how the record ended, by the goroutine that ended its wait.
	then func(seq uint64, err error)
}

// Wait blocks until the record is on disk (fsync returned) or failed, and
// returns the failure. If no commit is under way, the waiting goroutine
// writes the queue itself (see Writer.commitNow).
func (p *Pending) Wait() error {
	if p.w != nil && !p.isDone() {
		p.w.commitNow()
	}
	<-p.done
	return p.err
}

// Done is closed when the record is on disk or failed. Unlike Wait, it leaves the commit to the
// writer's goroutine.
func (p *Pending) Done() <-chan struct{} {
	p.Detach()
	return p.done
}

// Detach lets the record be written without anyone waiting for it: the writer's goroutine commits it.
func (p *Pending) Detach() {
	if p.w != nil && !p.isDone() {
		p.w.kick()
	}
}

// Err returns nil until Done is closed, then why the record was not
// written, or nil when it was.
func (p *Pending) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Seq returns the record's seq once it is written, else 0.
func (p *Pending) Seq() uint64 {
	if !p.isDone() {
		return 0
	}
	return p.seq // set only for a record that was written
}

// Hash returns the record's hash once it is written, else "".
func (p *Pending) Hash() string {
	if !p.isDone() {
		return ""
	}
	return p.hash
}

func (p *Pending) isDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func failedPending(err error) *Pending {
	p := &Pending{done: make(chan struct{}), err: err}
	close(p.done)
	return p
}

// release ends the wait of every record in batch, in submission order, then tells those that asked
// (SubmitThen).
func release(batch []*Pending, err error) {
	for _, p := range batch {
		p.err = err
		close(p.done)
	}
	for _, p := range batch {
		if p.then != nil {
			p.then(p.seq, p.err)
		}
	}
}

package proc

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// Lines is a Tee for a child's output: it hands To each whole line written
// to it, after Prefix, and shows each line (without its newline) to Seen
// when set, so that a reader of the output never sees a line cut in two.
type Lines struct {
	To     io.Writer
	Prefix string
	Seen   func(line []byte)

	mu      sync.Mutex
	partial []byte
}

func (w *Lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if w.Seen != nil {
			w.Seen(w.partial[:i])
		}
		if _, err := w.To.Write(append([]byte(w.Prefix), w.partial[:i+1]...)); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return len(p), err
		}
		w.partial = w.partial[i+1:]
	}
}

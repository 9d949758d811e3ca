package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

// framer splits an SSE body into events, runs the frame handlers on each, and yields
// them one Read at a time (httputil.ReverseProxy flushes after each write of an
// event-stream). A frame denial ends the stream with one error event; so does nothing
// when an event grows over MaxBodyBytes, the stream just ends.
type framer struct {
	ctx     context.Context
	src     io.ReadCloser
	ex      *exchange
	buf     []byte // read from src; pending = buf[off:]
	off     int
	scanned int    // bytes of pending already searched for a terminator
	out     []byte // to hand out before reading on
	srcErr  error
	done    bool
}

func newFramer(ctx context.Context, src io.ReadCloser, ex *exchange) *framer {
	return &framer{ctx: ctx, src: src, ex: ex, buf: make([]byte, 0, 16<<10)}
}

func (f *framer) Close() error { return f.src.Close() }

func (f *framer) Read(b []byte) (int, error) {
	for len(f.out) == 0 {
		if f.done {
			if f.srcErr != nil && f.srcErr != io.EOF {
				return 0, f.srcErr
			}
			return 0, io.EOF
		}
		f.next()
	}
	n := copy(b, f.out)
	f.out = f.out[n:]
	return n, nil
}

// eventEnd finds the first terminator ("\n\n" or "\r\n\r\n") in b from offset from.
func eventEnd(b []byte, from int) (end, term int) {
	end, term = -1, 0
	if i := bytes.Index(b[from:], []byte("\n\n")); i >= 0 {
		end, term = from+i, 2
	}
	if i := bytes.Index(b[from:], []byte("\r\n\r\n")); i >= 0 && (end < 0 || from+i < end) {
		end, term = from+i, 4
	}
	return end, term
}

// next sets out to the next event (or the error event), or marks the stream done.
func (f *framer) next() {
	for {
		pending := f.buf[f.off:]
		if end, term := eventEnd(pending, f.scanned); end >= 0 {
			if end > pipeline.MaxBodyBytes {
				f.done = true
				return
			}
			f.emit(pending[:end], pending[:end+term])
			f.off += end + term
			f.scanned = 0
			return
		}
		// No terminator yet: the last three bytes may begin one.
		f.scanned = max(0, len(pending)-3)
		if len(pending) > pipeline.MaxBodyBytes {
			f.done = true
			return
		}
		if f.srcErr != nil {
			if len(pending) > 0 {
				f.emit(pending, pending)
				f.off = len(f.buf)
			}
			f.done = true
			return
		}
		f.fill()
	}
}

// emit runs the frame handlers on one event and queues it, or the denial's event.
func (f *framer) emit(event, raw []byte) {
	ex := f.ex
	if d := ex.p.Frame(f.ctx, &ex.req, event); d != nil {
		ex.deny(d)
		f.out = errorEvent(d)
		f.done = true
		return
	}
	f.out = raw
}

// fill reads more of the stream, compacting what was handed out.
func (f *framer) fill() {
	if f.off > 0 {
		n := copy(f.buf, f.buf[f.off:])
		f.buf = f.buf[:n]
		f.off = 0
	}
	if len(f.buf) == cap(f.buf) {
		grown := make([]byte, len(f.buf), min(2*cap(f.buf), pipeline.MaxBodyBytes+copyBufferBytes))
		copy(grown, f.buf)
		f.buf = grown
	}
	n, err := f.src.Read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if err != nil {
		f.srcErr = err
	}
}

type frameError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Plugin  string `json:"plugin"`
}

// errorEvent is the SSE event that ends a stream a frame handler denied.
func errorEvent(d *pipeline.Deny) []byte {
	data, _ := json.Marshal(frameError{Error: d.Code, Message: d.Message, Plugin: d.Plugin})
	out := make([]byte, 0, len(data)+22)
	out = append(out, "event: error\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Line is one status line, redrawn in place; the zero value and nil draw nothing.
type Line struct {
	mu      sync.Mutex
	w       io.Writer
	width   int
	last    time.Time
	pending string
	drawn   bool
	start   time.Time
	now     func() time.Time
}

// minRedraw bounds redraws, so progress costs the command nothing.
const minRedraw = 100 * time.Millisecond

// ForStderr is a Line on os.Stderr when it is a terminal and neither CI nor
// TRUSTSYNC_NO_PROGRESS is set; nil otherwise.
func ForStderr() *Line {
	if os.Getenv("CI") != "" || os.Getenv("TRUSTSYNC_NO_PROGRESS") != "" {
		return nil
	}
	fd := int(os.Stderr.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	width, _, err := term.GetSize(fd)
	if err != nil || width <= 0 {
		width = 80
	}
	return New(os.Stderr, width, time.Now)
}

// New is a Line on w, a terminal width columns wide.
func New(w io.Writer, width int, now func() time.Time) *Line {
	return &Line{w: w, width: width, now: now, start: now()}
}

// Phase shows what is being done now, with the time since the Line began.
func (l *Line) Phase(what string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.pending = fmt.Sprintf("%s… (%.1fs)", what, now.Sub(l.start).Seconds())
	if now.Sub(l.last) < minRedraw && l.drawn {
		return
	}
	l.draw(now)
}

func (l *Line) draw(now time.Time) {
	text := l.pending
	if r := []rune(text); len(r) > l.width-1 {
		text = string(r[:l.width-1])
	}
	fmt.Fprintf(l.w, "\r\x1b[2K%s", text)
	l.last, l.drawn = now, true
}

// Done clears the line, so the command's own output starts on a clean one.
func (l *Line) Done() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprint(l.w, "\r\x1b[2K")
		l.drawn = false
	}
}

package feed

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/swardnet/sward/internal/logkey"
)

// eventFileHeader starts an event file; the epoch follows it on the same
// line.
const eventFileHeader = "sward-feed-events 1 "

// maxEventLine bounds one stored event (a record with its full text).
const maxEventLine = 64 << 20

// eventFile keeps the feed's event log on disk next to the index, so that
// an SSE client resuming with Last-Event-ID after a server restart gets the
// events it missed instead of a gap. It is an append-only file of JSON
// lines after a header naming the epoch; when it holds twice the retention
// it is rewritten with the retained events only (write to a temporary file,
// fsync, rename). Appends are not fsync'd one by one: a killed process
// loses nothing the kernel already has, and a torn last line left by a
// crash is cut off when the file is next opened.
type eventFile struct {
	path      string
	retention int
	log       *slog.Logger

	f     *os.File
	w     *bufio.Writer
	lines int // events in the file
	err   error
}

// storedEvent is one line of the event file.
type storedEvent struct {
	Seq      uint64    `json:"seq"`
	Accepted time.Time `json:"accepted"`
	Record   *Record   `json:"record"`
}

// openEventFile reads the events stored at path (creating the file with a
// fresh epoch when there is none) and opens it for appending. It returns
// the epoch and the last retention events in order. Lines that cannot be
// read are skipped with a warning; a torn last line is cut off.
func openEventFile(path string, retention int, log *slog.Logger) (*eventFile, string, []Event, error) {
	ef := &eventFile{path: path, retention: retention, log: log}
	epoch, evs, lines, keep, err := readEventFile(path, retention, log)
	switch {
	case errors.Is(err, os.ErrNotExist):
		epoch = strconv.FormatInt(time.Now().UnixNano(), 36)
		if err := ef.rewrite(epoch, nil); err != nil {
			return nil, "", nil, err
		}
		return ef, epoch, nil, nil
	case err != nil:
		return nil, "", nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, "", nil, fmt.Errorf("opening feed events %s: %w", path, err)
	}
	// Cut a torn tail, then append after the last whole line.
	if err := f.Truncate(keep); err != nil {
		f.Close()
		return nil, "", nil, fmt.Errorf("cutting the torn end of feed events %s: %w", path, err)
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		f.Close()
		return nil, "", nil, fmt.Errorf("opening feed events %s: %w", path, err)
	}
	ef.f, ef.w, ef.lines = f, bufio.NewWriter(f), lines
	return ef, epoch, evs, nil
}

// readEventFile parses an event file. keep is the length of its whole
// lines (anything after is a torn write); lines counts the events in it.
func readEventFile(path string, retention int, log *slog.Logger) (epoch string, evs []Event, lines int, keep int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, 0, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	header, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(header, eventFileHeader) {
		return "", nil, 0, 0, fmt.Errorf("feed events %s: not an event file (header %q); move it away to start a new event log", path, strings.TrimSpace(header))
	}
	epoch = strings.TrimSpace(strings.TrimPrefix(header, eventFileHeader))
	if epoch == "" || strings.ContainsAny(epoch, "- ") {
		return "", nil, 0, 0, fmt.Errorf("feed events %s: bad epoch %q; move it away to start a new event log", path, epoch)
	}
	keep = int64(len(header))
	ring := make([]Event, 0, min(retention, 1024))
	var lastSeq uint64
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			// A long record: gather the rest of the line.
			full := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(full) <= maxEventLine {
				line, err = r.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", nil, 0, 0, fmt.Errorf("feed events %s: event on line %d is longer than %d bytes; move the file away to start a new event log", path, n+1, maxEventLine)
			}
		}
		if err == io.EOF {
			if len(line) > 0 {
				log.Warn("feed events: cutting a torn last line (the server stopped mid-write)", logkey.Path, path, "bytes", len(line))
			}
			break
		}
		if err != nil {
			return "", nil, 0, 0, fmt.Errorf("reading feed events %s: %w", path, err)
		}
		keep += int64(len(line))
		var se storedEvent
		if err := json.Unmarshal(bytes.TrimSpace(line), &se); err != nil || se.Record == nil || se.Seq <= lastSeq {
			log.Warn("feed events: skipping an unreadable event", logkey.Path, path, "line", n+1, logkey.Err, err)
			continue
		}
		lastSeq = se.Seq
		lines++
		ev := Event{Seq: se.Seq, Record: se.Record, Accepted: se.Accepted}
		if len(ring) == retention {
			copy(ring, ring[1:])
			ring = ring[:retention-1]
		}
		ring = append(ring, ev)
	}
	return epoch, ring, lines, keep, nil
}

// append writes events and hands them to the kernel. After a failure the
// file stops taking events (the log lives on in memory) and the error is
// logged once.
func (ef *eventFile) append(evs []Event, retained func() []Event) {
	if ef.err != nil {
		return
	}
	for _, ev := range evs {
		data, err := json.Marshal(storedEvent{Seq: ev.Seq, Accepted: ev.Accepted, Record: ev.Record})
		if err == nil {
			_, err = ef.w.Write(append(data, '\n'))
		}
		if err != nil {
			ef.fail(err)
			return
		}
		ef.lines++
	}
	if err := ef.w.Flush(); err != nil {
		ef.fail(err)
		return
	}
	if ef.lines >= 2*ef.retention {
		epoch, err := ef.epoch()
		if err == nil {
			err = ef.rewrite(epoch, retained())
		}
		if err != nil {
			ef.fail(err)
		}
	}
}

func (ef *eventFile) fail(err error) {
	ef.err = err
	ef.log.Error("feed events: cannot write the event file; SSE resumption after a restart will report a gap", logkey.Path, ef.path, logkey.Err, err)
}

// epoch reads the epoch back from the header.
func (ef *eventFile) epoch() (string, error) {
	f, err := os.Open(ef.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	header, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading feed events header: %w", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(header, eventFileHeader)), nil
}

// rewrite replaces the file with a header and evs, atomically, and keeps
// it open for appending.
func (ef *eventFile) rewrite(epoch string, evs []Event) error {
	f, err := renameio.NewPendingFile(ef.path, renameio.WithPermissions(0o600))
	if err != nil {
		return fmt.Errorf("writing feed events: %w", err)
	}
	defer f.Cleanup()
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = w.WriteString(eventFileHeader + epoch + "\n")
	for _, ev := range evs {
		if err != nil {
			break
		}
		var data []byte
		if data, err = json.Marshal(storedEvent{Seq: ev.Seq, Accepted: ev.Accepted, Record: ev.Record}); err == nil {
			_, err = w.Write(append(data, '\n'))
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.CloseAtomicallyReplace() // sync, close, rename over ef.path
	}
	if err != nil {
		return fmt.Errorf("writing feed events %s: %w", ef.path, err)
	}
	if ef.f != nil {
		ef.f.Close()
	}
	af, err := os.OpenFile(ef.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening feed events %s: %w", ef.path, err)
	}
	ef.f, ef.w, ef.lines = af, bufio.NewWriter(af), len(evs)
	return nil
}

// close flushes and syncs the file.
func (ef *eventFile) close() error {
	if ef.f == nil {
		return nil
	}
	err := ef.w.Flush()
	if serr := ef.f.Sync(); err == nil {
		err = serr
	}
	if cerr := ef.f.Close(); err == nil {
		err = cerr
	}
	ef.f = nil
	if err != nil && ef.err == nil {
		return fmt.Errorf("closing feed events %s: %w", ef.path, err)
	}
	return nil
}

package curator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/swardnet/sward/internal/logkey"
	swnet "github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

// ErrBadBackfill is returned (wrapped) when a peer's backfill response is
// malformed: garbage, truncated, oversized, or carrying a message that does
// not verify. Nothing of such a response is stored.
var ErrBadBackfill = errors.New("bad backfill response")

// SyncConfig tunes a Sync. The zero value of every field means its default.
type SyncConfig struct {
	// Timeout bounds one page's request and response, both when asking
	// and when serving (default 30s).
	Timeout time.Duration
	// MaxServing bounds the backfill streams served at once; more are
	// answered "busy" (default 4).
	MaxServing int
	// Ask says which peers to backfill from on their own when they connect
	// and are seen (by identify) to serve schemas.ProtocolCurateSync. Nil
	// means every such peer when the curator has ItemSources (a curator's
	// libp2p host ID need not be its curator ID, so the item source cannot
	// be picked out by ID), and none otherwise.
	Ask func(peer.ID) bool
	// FollowUp is how long after a backfill from a peer to backfill once
	// more from its cursor, for messages gossiped before this curator's
	// gossip mesh formed (default 5s; negative: never).
	FollowUp time.Duration
	// Resync is how often, after that, to backfill again from a peer that
	// stays connected (default 1m; negative: never). Gossip delivers a
	// message only to the publisher's mesh peers at the time, so one
	// published just before this curator was grafted, or dropped on the
	// way, would otherwise never arrive; each resync asks only for what is
	// past the cursor, so it costs a page of what is new.
	Resync time.Duration
	// Logger defaults to the curator's logger.
	Logger *slog.Logger
}

// Default fills unset fields with their defaults; StartSync fills Ask and
// Logger from the Curator.
func (c *SyncConfig) Default() {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxServing <= 0 {
		c.MaxServing = 4
	}
	if c.FollowUp == 0 {
		c.FollowUp = 5 * time.Second
	}
	if c.Resync == 0 {
		c.Resync = time.Minute
	}
}

// Validate reports a configuration that cannot work. Call it after
// Default.
func (c SyncConfig) Validate() error {
	if c.Timeout <= 0 || c.MaxServing <= 0 {
		return errors.New("curator sync config: Timeout and MaxServing must be positive (call Default first)")
	}
	return nil
}

// Sync serves schemas.ProtocolCurateSync on a libp2p host for one Curator,
// and backfills that Curator from peers that serve it: on start from the
// peers already connected, and whenever a peer (re)connects. Each peer's
// cursor is kept in the curator's store, so a reconnect asks only for what
// is new.
type Sync struct {
	h   host.Host
	c   *Curator
	cfg SyncConfig
	log *slog.Logger
	sem chan struct{}

	mu sync.Mutex
	// inFlight holds, per peer being backfilled automatically, a channel
	// that wakes its loop early (the peer reconnected).
	inFlight map[peer.ID]chan struct{}
	// peerLocks serialise backfills from one peer (automatic and called),
	// so two never read the same cursor and fetch the same page twice.
	peerLocks map[peer.ID]*sync.Mutex
	closed    bool

	sub    event.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartSync serves backfill for c on h and starts backfilling c from the
// peers cfg.Ask picks. Close stops both; close the Sync before the Curator.
func StartSync(ctx context.Context, h host.Host, c *Curator, cfg SyncConfig) (*Sync, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Ask == nil {
		trusting := len(c.cfg.ItemSources) > 0
		cfg.Ask = func(peer.ID) bool { return trusting }
	}
	if cfg.Logger == nil {
		cfg.Logger = c.log
	}
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerProtocolsUpdated)})
	if err != nil {
		return nil, fmt.Errorf("starting curator sync: subscribing to identify events: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Sync{
		h: h, c: c, cfg: cfg, log: cfg.Logger, sem: make(chan struct{}, cfg.MaxServing),
		inFlight: map[peer.ID]chan struct{}{}, peerLocks: map[peer.ID]*sync.Mutex{}, sub: sub, cancel: cancel,
	}
	h.SetStreamHandler(schemas.ProtocolCurateSync, func(st lpnet.Stream) {
		// libp2p runs the handler; Close still waits for it.
		if !s.track() {
			_ = st.Reset()
			return
		}
		defer s.wg.Done()
		s.serve(runCtx, st)
	})
	s.track()
	go s.watch(runCtx)
	for _, p := range h.Network().Peers() {
		if protos, err := h.Peerstore().SupportsProtocols(p, schemas.ProtocolCurateSync); err == nil && len(protos) > 0 {
			s.auto(runCtx, p)
		}
	}
	return s, nil
}

// track counts a goroutine in wg unless Close has begun.
func (s *Sync) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// Close stops serving and backfilling and waits for running backfills and
// the requests being served.
func (s *Sync) Close() error {
	s.h.RemoveStreamHandler(schemas.ProtocolCurateSync)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	err := s.sub.Close()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("stopping curator sync: %w", err)
	}
	return nil
}

// watch starts a backfill whenever identify shows a peer serving the
// protocol: a new peer, one reconnecting, or one that starts serving it
// after it connected.
func (s *Sync) watch(ctx context.Context) {
	defer s.wg.Done()
	proto := protocol.ID(schemas.ProtocolCurateSync)
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-s.sub.Out():
			if !ok {
				return
			}
			switch ev := e.(type) {
			case event.EvtPeerIdentificationCompleted:
				if slices.Contains(ev.Protocols, proto) {
					s.auto(ctx, ev.Peer)
				}
			case event.EvtPeerProtocolsUpdated:
				if slices.Contains(ev.Added, proto) {
					s.auto(ctx, ev.Peer)
				}
			}
		}
	}
}

// auto backfills from p in the background if cfg.Ask picks it: at once,
// again after FollowUp, then every Resync while p stays connected. If a
// loop for p is already running, it is woken to backfill now (p
// reconnected).
func (s *Sync) auto(ctx context.Context, p peer.ID) {
	if p == s.h.ID() || !s.cfg.Ask(p) {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if kick, ok := s.inFlight[p]; ok {
		select {
		case kick <- struct{}{}:
		default:
		}
		s.mu.Unlock()
		return
	}
	kick := make(chan struct{}, 1)
	s.inFlight[p] = kick
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.autoLoop(ctx, p, kick)
	}()
}

// autoLoop runs the automatic backfills from p until ctx ends or p is no
// longer connected.
func (s *Sync) autoLoop(ctx context.Context, p peer.ID, kick chan struct{}) {
	done := func() bool {
		// Checked and forgotten under the lock auto takes, so a
		// reconnect either wakes this loop or starts a new one.
		s.mu.Lock()
		defer s.mu.Unlock()
		if ctx.Err() == nil && s.h.Network().Connectedness(p) == lpnet.Connected {
			return false
		}
		delete(s.inFlight, p)
		return true
	}
	wait := s.cfg.FollowUp
	if !s.autoOnce(ctx, p) {
		wait = s.cfg.Resync // a failed first backfill is retried later
	}
	for {
		if wait < 0 {
			wait = s.cfg.Resync
		}
		if wait < 0 {
			s.mu.Lock()
			delete(s.inFlight, p)
			s.mu.Unlock()
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-kick:
		}
		t.Stop()
		if done() {
			return
		}
		s.autoOnce(ctx, p)
		wait = s.cfg.Resync
	}
}

func (s *Sync) autoOnce(ctx context.Context, p peer.ID) bool {
	st, err := s.Backfill(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("curator backfill", logkey.Peer, p.String(), logkey.Err, err)
		}
		return false
	}
	s.log.Info("curator backfill", logkey.Peer, p.String(), "messages", st.Messages, "stored", st.Stored,
		"duplicates", st.Duplicates, "refused", st.Refused)
	for _, e := range st.Errors {
		s.log.Debug("curator backfill refused a message", logkey.Peer, p.String(), logkey.Err, e)
	}
	return true
}

// cursorKey is the settings key of the cursor into peer p's store.
func cursorKey(p peer.ID) string { return "sync_cursor/" + p.String() }

// Backfill asks peer p, page by page, for what it holds after the cursor
// kept from the last backfill from it, and runs every message through the
// same checks as gossip. Duplicates are counted, not stored again. A
// malformed response fails with ErrBadBackfill and stores nothing of that
// page; pages applied before it stay (they were complete and verified).
// Backfills from one peer run one at a time.
func (s *Sync) Backfill(ctx context.Context, p peer.ID) (BackfillStats, error) {
	s.mu.Lock()
	l := s.peerLocks[p]
	if l == nil {
		l = &sync.Mutex{}
		s.peerLocks[p] = l
	}
	s.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	var total BackfillStats
	cursor, err := s.c.setting(ctx, cursorKey(p))
	if err != nil {
		return total, err
	}
	// A responder always moves its cursor on while More holds; the bound
	// only stops a misbehaving one from keeping us forever.
	for range 10_000 {
		resp, msgs, err := s.fetch(ctx, p, cursor)
		if err != nil {
			return total, err
		}
		st, err := s.c.ApplyBackfill(ctx, msgs)
		st.Pages = 1
		total.add(st)
		if err != nil {
			return total, err
		}
		if resp.Cursor != "" && resp.Cursor != cursor {
			cursor = resp.Cursor
			if err := s.c.setSetting(ctx, cursorKey(p), cursor); err != nil {
				return total, err
			}
		} else if resp.More {
			return total, fmt.Errorf("backfill from %s: %w: more pages but the cursor did not move", p, ErrBadBackfill)
		}
		if !resp.More {
			return total, nil
		}
	}
	return total, fmt.Errorf("backfill from %s: %w: too many pages", p, ErrBadBackfill)
}

// fetch asks p for one page.
func (s *Sync) fetch(ctx context.Context, p peer.ID, cursor string) (*schemas.CurateSyncResponse, [][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	st, err := s.h.NewStream(ctx, p, schemas.ProtocolCurateSync)
	if err != nil {
		return nil, nil, fmt.Errorf("backfill from %s: opening a stream: %w", p, err)
	}
	defer st.Close()
	deadline, _ := ctx.Deadline()
	_ = st.SetDeadline(deadline)
	// Closing the stream unblocks a read if ctx ends first.
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	req, err := json.Marshal(schemas.CurateSyncRequest{Version: schemas.CurateSyncVersion, Cursor: cursor})
	if err != nil {
		return nil, nil, fmt.Errorf("backfill from %s: encoding the request: %w", p, err)
	}
	if err := swnet.WriteFrame(st, req, schemas.MaxCurateSyncHeader); err != nil {
		_ = st.Reset()
		return nil, nil, fmt.Errorf("backfill from %s: sending the request: %w", p, err)
	}
	if err := st.CloseWrite(); err != nil {
		_ = st.Reset()
		return nil, nil, fmt.Errorf("backfill from %s: sending the request: %w", p, err)
	}
	resp, msgs, err := ReadBackfillResponse(st)
	if err != nil {
		_ = st.Reset()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, nil, fmt.Errorf("backfill from %s: %w", p, err)
	}
	return resp, msgs, nil
}

// ReadBackfillResponse decodes one page of a schemas.ProtocolCurateSync
// response from r: the header frame, exactly its Count message frames, and
// the end of the stream. Every message must decode and its signature
// verify (VerifyMessage); trust and replays are left to the receiver. Any
// fault fails the whole page with ErrBadBackfill.
func ReadBackfillResponse(r io.Reader) (*schemas.CurateSyncResponse, [][]byte, error) {
	br := bufio.NewReader(r)
	head, err := swnet.ReadFrame(br, schemas.MaxCurateSyncHeader)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading the header: %w", ErrBadBackfill, err)
	}
	var resp schemas.CurateSyncResponse
	if err := json.Unmarshal(head, &resp); err != nil {
		return nil, nil, fmt.Errorf("%w: decoding the header: %w", ErrBadBackfill, err)
	}
	if err := resp.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadBackfill, err)
	}
	if resp.Error != "" {
		return nil, nil, fmt.Errorf("%w: peer refused: %s", ErrBadBackfill, truncate(resp.Error, 200))
	}
	msgs := make([][]byte, 0, resp.Count)
	total := 0
	for i := range resp.Count {
		m, err := swnet.ReadFrame(br, min(schemas.MaxMessageSize, schemas.MaxCurateSyncPageBytes-total))
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, fmt.Errorf("%w: message %d of %d: %w", ErrBadBackfill, i+1, resp.Count, err)
		}
		total += len(m)
		if _, err := VerifyMessage(m); err != nil {
			return nil, nil, fmt.Errorf("%w: message %d of %d: %w", ErrBadBackfill, i+1, resp.Count, err)
		}
		msgs = append(msgs, m)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		if err == nil {
			return nil, nil, fmt.Errorf("%w: data after the %d messages the header announced", ErrBadBackfill, resp.Count)
		}
		return nil, nil, fmt.Errorf("%w: waiting for the end of the response: %w", ErrBadBackfill, err)
	}
	return &resp, msgs, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// serve answers one backfill request.
func (s *Sync) serve(ctx context.Context, st lpnet.Stream) {
	defer st.Close()
	remote := st.Conn().RemotePeer().String()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	_ = st.SetDeadline(time.Now().Add(s.cfg.Timeout))
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	reply := func(resp schemas.CurateSyncResponse, msgs [][]byte) {
		resp.Version = schemas.CurateSyncVersion
		resp.Curator = s.c.PeerID()
		resp.Count = len(msgs)
		head, err := json.Marshal(resp)
		if err == nil {
			err = swnet.WriteFrame(st, head, schemas.MaxCurateSyncHeader)
		}
		for _, m := range msgs {
			if err != nil {
				break
			}
			err = swnet.WriteFrame(st, m, schemas.MaxMessageSize)
		}
		if err != nil {
			_ = st.Reset()
			s.log.Debug("serving curator backfill", logkey.Peer, remote, logkey.Err, err)
		}
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		reply(schemas.CurateSyncResponse{Error: "busy, try again later"}, nil)
		return
	}
	data, err := swnet.ReadFrame(bufio.NewReader(st), schemas.MaxCurateSyncHeader)
	if err != nil {
		_ = st.Reset()
		s.log.Debug("serving curator backfill: reading the request", logkey.Peer, remote, logkey.Err, err)
		return
	}
	var req schemas.CurateSyncRequest
	if err := json.Unmarshal(data, &req); err != nil {
		reply(schemas.CurateSyncResponse{Error: "malformed request: " + err.Error()}, nil)
		return
	}
	if err := req.Validate(); err != nil {
		reply(schemas.CurateSyncResponse{Error: err.Error()}, nil)
		return
	}
	page, err := s.c.BackfillPage(ctx, req.Cursor, req.Limit)
	if err != nil {
		s.log.Warn("serving curator backfill", logkey.Peer, remote, logkey.Err, err)
		reply(schemas.CurateSyncResponse{Error: "cannot build the page: " + err.Error()}, nil)
		return
	}
	reply(schemas.CurateSyncResponse{Cursor: page.Cursor, More: page.More}, page.Messages)
}

package network

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

const leaseProtocolID = protocol.ID(schemas.LeaseProtocol)

// ErrUntrusted is returned when asking a coordinator this host does not
// trust for work.
var ErrUntrusted = errors.New("peer is not a trusted coordinator")

// Bounds on a lease request's fields, beyond the frame size limit.
const (
	maxLeaseBatch = 10000
	maxLeaseID    = 256
)

// LeaseHandler answers lease requests on a coordinator. HandleLease is
// called concurrently, once per request frame, from the stream's goroutine;
// ctx ends when the lease timeout passes or the host closes. The response's
// Version is filled in if left zero. Returning nil answers with an internal
// error. A panic is recovered and answered with an internal error.
type LeaseHandler interface {
	HandleLease(ctx context.Context, from peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse
}

// LeaseHandlerFunc adapts a function to LeaseHandler.
type LeaseHandlerFunc func(ctx context.Context, from peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse

// HandleLease calls f.
func (f LeaseHandlerFunc) HandleLease(ctx context.Context, from peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse {
	return f(ctx, from, req)
}

// leaseServer bounds and tracks the lease streams being served, so that
// Close can wait for every handler to return.
type leaseServer struct {
	slots  chan struct{}
	active atomic.Int64

	mu      sync.Mutex
	idle    *sync.Cond
	running int
	closed  bool
}

func (s *leaseServer) init(max int) {
	s.slots = make(chan struct{}, max)
	s.idle = sync.NewCond(&s.mu)
}

// enter registers a stream handler; it fails once the server is closed.
func (s *leaseServer) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.running++
	s.active.Add(1)
	return true
}

func (s *leaseServer) exit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	s.active.Add(-1)
	if s.running == 0 {
		s.idle.Broadcast()
	}
}

// closeAndWait refuses new streams and waits for running handlers.
func (s *leaseServer) closeAndWait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for s.running > 0 {
		s.idle.Wait()
	}
}

// ActiveLeaseStreams returns how many lease streams are being served now.
func (h *Host) ActiveLeaseStreams() int { return int(h.lease.active.Load()) }

// ServeLeases makes this host answer schemas.LeaseProtocol with handler,
// replacing any previous handler.
//
// Protocol: each frame is an unsigned varint length followed by that many
// bytes of JSON, at most schemas.MaxMessageSize. The client sends a
// LeaseRequest and the server answers with one LeaseResponse; a client may
// send further requests on the same stream, each answered in order, or
// close its write side after one. Every read (including the wait for the
// next request) and every write has Config.LeaseTimeout; a stalled stream
// is reset. A frame that is not a valid request is answered with a
// response whose Error says why; a frame whose length prefix is malformed
// or too large is answered the same way and the stream is then closed,
// since the framing is lost. Quarantined peers are refused, and when
// MaxLeaseStreams streams are busy a new one is answered with a busy error
// and a RetryAfter.
func (h *Host) ServeLeases(handler LeaseHandler) {
	h.host.SetStreamHandler(leaseProtocolID, func(s network.Stream) {
		if !h.lease.enter() {
			_ = s.Reset()
			return
		}
		defer h.lease.exit()
		h.serveLeaseStream(s, handler)
	})
}

func (h *Host) serveLeaseStream(s network.Stream, handler LeaseHandler) {
	from := s.Conn().RemotePeer()
	log := h.log.With(logPeer, from.String())
	timeout := h.cfg.LeaseTimeout
	if h.IsQuarantined(from) {
		h.writeLeaseResponse(s, &schemas.LeaseResponse{Error: "refused: " + ErrQuarantined.Error()})
		_ = s.Close()
		return
	}
	select {
	case h.lease.slots <- struct{}{}:
		defer func() { <-h.lease.slots }()
	default:
		h.writeLeaseResponse(s, &schemas.LeaseResponse{
			Error:      "busy: too many lease streams; retry later",
			RetryAfter: schemas.Duration(time.Second),
		})
		_ = s.Close()
		return
	}
	br := bufio.NewReader(s)
	for {
		_ = s.SetReadDeadline(time.Now().Add(timeout))
		frame, err := ReadFrame(br, schemas.MaxMessageSize)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			_ = s.Close()
			return
		case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrBadFrameHeader):
			log.Debug("bad lease frame; closing stream", logkey.Err, err)
			h.writeLeaseResponse(s, &schemas.LeaseResponse{Error: "bad frame: " + err.Error()})
			_ = s.Close()
			return
		default:
			// Timeout, reset, or a stream cut inside a frame.
			log.Debug("lease stream ended", logkey.Err, err)
			_ = s.Reset()
			return
		}
		var resp *schemas.LeaseResponse
		req, err := DecodeLeaseRequest(frame)
		if err != nil {
			resp = &schemas.LeaseResponse{Error: "bad request: " + err.Error()}
		} else {
			resp = h.callLeaseHandler(handler, from, req)
		}
		if !h.writeLeaseResponse(s, resp) {
			_ = s.Reset()
			return
		}
	}
}

// callLeaseHandler runs the handler with a deadline and turns a nil answer
// or a panic into an error response.
func (h *Host) callLeaseHandler(handler LeaseHandler, from peer.ID, req *schemas.LeaseRequest) (resp *schemas.LeaseResponse) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.LeaseTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("lease handler panicked", logPeer, from.String(), "op", req.Op, "panic", r, "stack", string(debug.Stack()))
			resp = &schemas.LeaseResponse{Error: "internal error"}
		}
	}()
	resp = handler.HandleLease(ctx, from, req)
	if resp == nil {
		resp = &schemas.LeaseResponse{Error: "internal error: no response"}
	}
	return resp
}

// writeLeaseResponse sends one response frame and reports success.
func (h *Host) writeLeaseResponse(s network.Stream, resp *schemas.LeaseResponse) bool {
	if resp.Version == 0 {
		r := *resp
		r.Version = schemas.WireVersion
		resp = &r
	}
	data, err := json.Marshal(resp)
	if err != nil {
		h.log.Error("encoding lease response", logkey.Err, err)
		data = []byte(`{"v":1,"error":"internal error: response not encodable"}`)
	}
	_ = s.SetWriteDeadline(time.Now().Add(h.cfg.LeaseTimeout))
	if err := WriteFrame(s, data, schemas.MaxMessageSize); err != nil {
		h.log.Debug("writing lease response", logPeer, s.Conn().RemotePeer().String(), logkey.Err, err)
		return false
	}
	return true
}

// DecodeLeaseRequest parses and checks one lease request frame.
func DecodeLeaseRequest(frame []byte) (*schemas.LeaseRequest, error) {
	var req schemas.LeaseRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return nil, fmt.Errorf("%w: lease request: %w", ErrMalformed, err)
	}
	if req.Version != schemas.WireVersion {
		return nil, &schemas.VersionError{Kind: "lease request", Got: req.Version, Want: schemas.WireVersion}
	}
	switch req.Op {
	case schemas.LeaseAcquire:
		if req.Max < 1 || req.Max > maxLeaseBatch {
			return nil, fmt.Errorf("%w: acquire max %d outside 1..%d", ErrMalformed, req.Max, maxLeaseBatch)
		}
	case schemas.LeaseRenew, schemas.LeaseComplete, schemas.LeaseRelease:
		if req.LeaseID == "" {
			return nil, fmt.Errorf("%w: %s needs a lease id", ErrMalformed, req.Op)
		}
	default:
		return nil, fmt.Errorf("%w: unknown op %q", ErrMalformed, req.Op)
	}
	if len(req.LeaseID) > maxLeaseID {
		return nil, fmt.Errorf("%w: lease id of %d bytes exceeds %d", ErrMalformed, len(req.LeaseID), maxLeaseID)
	}
	return &req, nil
}

// RequestLease sends one request to a trusted coordinator on a new stream
// and returns its answer. Transport failures, timeouts (Config.LeaseTimeout
// or ctx's deadline, whichever is sooner) and undecodable answers are
// errors; a coordinator's refusal comes back as a response with Error set
// and a nil error. req.Version is filled in if zero.
func (h *Host) RequestLease(ctx context.Context, coordinator peer.ID, req *schemas.LeaseRequest) (*schemas.LeaseResponse, error) {
	if !h.IsTrusted(coordinator) {
		return nil, fmt.Errorf("requesting lease from %s: %w (add it to the trusted list)", coordinator, ErrUntrusted)
	}
	r := *req
	if r.Version == 0 {
		r.Version = schemas.WireVersion
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("encoding lease request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.LeaseTimeout)
	defer cancel()
	s, err := h.host.NewStream(ctx, coordinator, leaseProtocolID)
	if err != nil {
		return nil, fmt.Errorf("opening lease stream to %s: %w", coordinator, err)
	}
	// Reset the stream when ctx ends, which unblocks reads and writes; ctx
	// carries the lease timeout, so this is the only deadline needed.
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := WriteFrame(s, data, schemas.MaxMessageSize); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("sending %s lease request to %s: %w", r.Op, coordinator, ctxErr(ctx, err))
	}
	_ = s.CloseWrite()
	frame, err := ReadFrame(bufio.NewReader(s), schemas.MaxMessageSize)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("reading lease response from %s: %w", coordinator, ctxErr(ctx, err))
	}
	_ = s.Close()
	var resp schemas.LeaseResponse
	if err := json.Unmarshal(frame, &resp); err != nil {
		return nil, fmt.Errorf("decoding lease response from %s: %w", coordinator, err)
	}
	if resp.Version != schemas.WireVersion {
		return nil, fmt.Errorf("lease response from %s: %w", coordinator, &schemas.VersionError{Kind: "lease response", Got: resp.Version, Want: schemas.WireVersion})
	}
	return &resp, nil
}

// ctxErr prefers the context's error, which says why a stream was reset.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// PeerAddr returns the IP address of a connection to p, if there is one:
// the coordinator keeps a check's verifiers off the network of the node
// whose capture they check (coordinator.PeerAddresser).
func (h *Host) PeerAddr(p peer.ID) (netip.Addr, bool) {
	for _, c := range h.host.Network().ConnsToPeer(p) {
		if ip, err := manet.ToIP(c.RemoteMultiaddr()); err == nil {
			if a, ok := netip.AddrFromSlice(ip); ok {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// fetchError is a failure with a stable reason code; its text becomes
// Capture.Error as "code: detail".
type fetchError struct {
	code   string
	detail string
	// transient marks failures worth retrying.
	transient bool
}

func (e *fetchError) Error() string { return e.code + ": " + e.detail }

func failf(code, format string, args ...any) *fetchError {
	return &fetchError{code: code, detail: fmt.Sprintf(format, args...)}
}

// Reason codes that start Capture.Error. They are stable: the coordinator and
// the dashboard group failures by them.
const (
	ReasonRobots      = "robots"
	ReasonSSRF        = "ssrf"
	ReasonBlocklist   = "blocklist"
	ReasonScheme      = "scheme"
	ReasonPort        = "port"
	ReasonBadURL      = "bad-url"
	ReasonTooLarge    = "too-large"
	ReasonTimeout     = "timeout"
	ReasonContentType = "content-type"
	ReasonEncoding    = "content-encoding"
	ReasonHTTP        = "http"
	ReasonRedirect    = "redirect"
	ReasonNetwork     = "network"
	ReasonDNS         = "dns"
	ReasonCanceled    = "canceled"
	ReasonPoliteness  = "politeness"
)

// classifyErr maps an error from a fetch attempt to a fetchError. parent is
// the caller's context (to tell its cancellation from our own timeouts).
func classifyErr(parent context.Context, err error, cfg *Config) *fetchError {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe
	}
	if se, ok := asSSRF(err); ok {
		return failf(ReasonSSRF, "%s is %s", se.Addr, se.Class)
	}
	var pe *PortError
	if errors.As(err, &pe) {
		return failf(ReasonPort, "%s", pe.Error())
	}
	if errors.Is(err, errBomb) {
		return failf(ReasonTooLarge, "%s", trimErr(err))
	}
	if parent.Err() != nil {
		return failf(ReasonCanceled, "%v", context.Cause(parent))
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "timeout awaiting response headers"):
		return failf(ReasonTimeout, "no response headers within %s", cfg.HeaderTimeout)
	case strings.Contains(msg, "TLS handshake timeout"):
		return failf(ReasonTimeout, "TLS handshake exceeded %s", cfg.ConnectTimeout)
	case isDialTimeout(err):
		return failf(ReasonTimeout, "connect exceeded %s", cfg.ConnectTimeout)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return failf(ReasonTimeout, "fetch exceeded %s total", cfg.TotalTimeout)
	case strings.Contains(msg, "content-encoding:"):
		return failf(ReasonEncoding, "%s", strings.TrimPrefix(msg[strings.Index(msg, "content-encoding:"):], "content-encoding: "))
	case strings.HasPrefix(trimErr(err), "dns:"):
		return failf(ReasonDNS, "%s", strings.TrimSpace(strings.TrimPrefix(trimErr(err), "dns:")))
	case errors.Is(err, syscall.ECONNREFUSED):
		return &fetchError{code: ReasonNetwork, detail: "connection refused", transient: true}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &fetchError{code: ReasonNetwork, detail: trimErr(err), transient: true}
	case strings.Contains(msg, "stopped after") && strings.Contains(msg, "redirects"):
		return failf(ReasonRedirect, "too many redirects")
	}
	return &fetchError{code: ReasonNetwork, detail: trimErr(err), transient: false}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDialTimeout(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial" && oe.Timeout()
}

// trimErr drops the "Get \"url\": " prefix net/http adds, keeping the cause.
func trimErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

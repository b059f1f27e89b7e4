package roles

import (
	"errors"
	"fmt"
	"net"
)

// listen opens a TCP listener with an error that says what to do.
func listen(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s on %s (in use? pick another address with the flag): %w", what, addr, err)
	}
	return ln, nil
}

// closers collects cleanup functions and runs them in reverse order.
type closers []func() error

func (c *closers) add(fn func() error) { *c = append(*c, fn) }

// close runs every function, last added first, and joins their errors.
func (c *closers) close() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		if err := (*c)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*c = nil
	return errors.Join(errs...)
}

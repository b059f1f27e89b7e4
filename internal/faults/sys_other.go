//go:build !linux

package faults

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; Child.Wait with
// a deadline still bounds a child's life.
func dieWithParent(*exec.Cmd) {}

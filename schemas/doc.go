// Package schemas is sward's data contract: the Go types, Arrow schemas and
// wire messages that every other package exchanges. It is the leaf of the
// import graph; it knows nothing about networks, disks or pipelines.
//
// Every persisted or transmitted shape carries a version number. A reader
// rejects a major version it does not know with an error that names both
// versions, rather than guessing. The formats are written down in
// docs/FORMATS.md; change that file together with this package.
package schemas

import "fmt"

// Versions of the shapes defined here. Bump one when its encoding changes in
// a way an older reader would misread.
const (
	CaptureVersion = 1
	// DocumentVersion 2 moved markdown out of the document table into the
	// markdown table (MarkdownSchema); version 1 tables still read.
	DocumentVersion = 2
	JobSpecVersion  = 1
	// ManifestVersion 2 added the "markdown" table; version 1 manifests
	// still read.
	ManifestVersion = 2
	WireVersion     = 1
)

// VersionError reports a shape whose version this build cannot read.
type VersionError struct {
	Kind string
	Got  int
	Want int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s version %d is not supported (this build reads version %d); upgrade sward", e.Kind, e.Got, e.Want)
}

// checkVersion accepts versions 1 through want: a build reads every older
// version of a shape and refuses a newer one.
func checkVersion(kind string, got, want int) error {
	if got < 1 || got > want {
		return &VersionError{Kind: kind, Got: got, Want: want}
	}
	return nil
}

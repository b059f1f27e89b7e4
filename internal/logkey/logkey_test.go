package logkey

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// shared maps each key string to the name of its constant.
var shared = map[string]string{
	Err: "Err", Role: "Role", Peer: "Peer", Node: "Node", Job: "Job",
	Lease: "Lease", URL: "URL", Host: "Host", Path: "Path", CID: "CID",
	Dataset: "Dataset", Addr: "Addr", Item: "Item", Count: "Count",
}

// logArgs finds, on one line, a log call's attributes written as string
// keys: `.Warn("msg", "job", id, ...)`, `.With("peer", p)`, or
// `slog.String("url", u)`. Calls spread over several lines are seen on
// the lines that hold their keys too, through keyAfterComma.
var (
	logCall       = regexp.MustCompile(`\.(Info|Warn|Error|Debug|With|InfoContext|WarnContext|ErrorContext|DebugContext)\((.*)$`)
	attrCall      = regexp.MustCompile(`\bslog\.(String|Int|Int64|Uint64|Float64|Bool|Duration|Time|Any|Group)\("(\w+)"`)
	keyAfterComma = regexp.MustCompile(`(?:^|[(,]\s*)"(\w+)"\s*,`)
	message       = regexp.MustCompile(`^\s*(?:ctx,\s*)?"(?:[^"\\]|\\.)*"`)
)

// TestSharedKeysAreUsed: no non-test source of the module spells a shared
// key as a string literal in a log call; it uses the constant, so a key is
// never spelt two ways.
func TestSharedKeysAreUsed(t *testing.T) {
	root := filepath.Join("..", "..")
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "node_modules" || name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range attrCall.FindAllStringSubmatch(line, -1) {
				if c, ok := shared[m[2]]; ok {
					bad = append(bad, path+":"+strconv.Itoa(i+1)+": slog."+m[1]+"(\""+m[2]+"\" ...) should use logkey."+c)
				}
			}
			m := logCall.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			args := m[2]
			if m[1] != "With" {
				args = message.ReplaceAllString(args, "")
			}
			for _, k := range keyAfterComma.FindAllStringSubmatch(","+args, -1) {
				if c, ok := shared[k[1]]; ok {
					bad = append(bad, path+":"+strconv.Itoa(i+1)+": log key \""+k[1]+"\" should be logkey."+c)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

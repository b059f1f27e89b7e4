package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/storage"
)

func makeStore(t *testing.T, dir string) {
	t.Helper()
	s, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreDirFindsTheStoreInsideDataDirectories(t *testing.T) {
	for _, sub := range []string{"", "store", "coordinator/store", ".pipeline/store"} {
		t.Run("at "+sub, func(t *testing.T) {
			dir := t.TempDir()
			makeStore(t, filepath.Join(dir, sub))
			o := &datasetOptions{data: dir}
			if got, want := o.storeDir(), filepath.Join(dir, sub); got != want {
				t.Fatalf("storeDir() = %s, want %s", got, want)
			}
			s, err := o.openStore(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Dir() != filepath.Join(dir, sub) {
				t.Fatalf("opened %s", s.Dir())
			}
		})
	}
}

func TestReadingCommandsDoNotCreateAStore(t *testing.T) {
	dir := t.TempDir()
	o := &datasetOptions{data: dir}
	if _, err := o.openStore(context.Background(), false); err == nil || !strings.Contains(err.Error(), "no sward store in "+dir) {
		t.Fatalf("openStore on an empty directory: %v", err)
	}
	for _, args := range [][]string{{"ls"}, {"show", "demo"}, {"diff", "a", "b"}, {"export", "demo", "--car", filepath.Join(dir, "x.car")}} {
		cmd := datasetCmdFor(o, args[0])
		var stdout, stderr bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs(args[1:])
		cmd.SetContext(context.Background())
		err := cmd.Execute()
		if args[0] == "ls" {
			if err != nil || !strings.Contains(stderr.String(), "no datasets in "+dir) {
				t.Errorf("ls on an empty directory: %v, %q", err, stderr.String())
			}
		} else if err == nil || !strings.Contains(err.Error(), "no sward store") {
			t.Errorf("%s on an empty directory: %v", args[0], err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("reading commands left %d entries in %s (first %s)", len(entries), dir, entries[0].Name())
	}
}

// datasetCmdFor returns a fresh `sward dataset NAME` command.
func datasetCmdFor(o *datasetOptions, name string) *cobra.Command {
	switch name {
	case "ls":
		return datasetLsCmd(o)
	case "show":
		return datasetShowCmd(o)
	case "diff":
		return datasetDiffCmd(o)
	case "export":
		return datasetExportCmd(o)
	}
	panic("unknown dataset command " + name)
}

// TestDatasetExportImportCAR: a version made by `sward pipeline run` is
// exported to a CAR under the name asked for (no pending file left next to
// it) and imported into an empty store under the same CID.
func TestDatasetExportImportCAR(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "site.warc")
	if err := os.WriteFile(in, cliWARC(3), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if log, err := runCLI(t, "pipeline", "run", "--in", in, "--out", out, "--progress=false"); err != nil {
		t.Fatalf("run: %v\n%s", err, log)
	}
	raw, err := os.ReadFile(filepath.Join(out, "CID"))
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(string(raw))
	carDir := t.TempDir()
	car := filepath.Join(carDir, "site.car")
	log, err := runCLI(t, "dataset", "--data", out, "export", root, "--car", car)
	if err != nil || !strings.Contains(log, "exported "+root+" to "+car) {
		t.Fatalf("export: %v %q", err, log)
	}
	entries, err := os.ReadDir(carDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "site.car" {
		t.Fatalf("export left %v in %s, want only site.car", entries, carDir)
	}
	log, err = runCLI(t, "dataset", "--data", t.TempDir(), "import", car)
	if err != nil || !strings.Contains(log, "imported "+root) {
		t.Fatalf("import: %v %q", err, log)
	}
}

// TestDatasetServeGateway: `sward dataset serve` answers CAR requests on
// its gateway and, when its context ends, shuts the gateway down and
// returns.
func TestDatasetServeGateway(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "site.warc")
	if err := os.WriteFile(in, cliWARC(3), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "out")
	if log, err := runCLI(t, "pipeline", "run", "--in", in, "--out", data, "--progress=false"); err != nil {
		t.Fatalf("run: %v\n%s", err, log)
	}
	raw, err := os.ReadFile(filepath.Join(data, "CID"))
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(string(raw))

	cmd := newRootCommand()
	var out testutil.SyncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"dataset", "--data", data, "serve"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var gw string
	for deadline := time.Now().Add(20 * time.Second); gw == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no gateway line from dataset serve:\n%s", out.String())
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "gateway: http://"); ok {
				gw, _, _ = strings.Cut(rest, "/")
			}
		}
	}
	resp, err := http.Get("http://" + gw + "/ipfs/" + root + "?format=car")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CAR from the gateway: %s", resp.Status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dataset serve after cancel: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dataset serve did not return after its context ended")
	}
}

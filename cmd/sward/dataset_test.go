package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

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

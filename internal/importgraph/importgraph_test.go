package importgraph

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/swardnet/sward"

// pkg is one package as go list reports it.
type pkg struct {
	path    string
	imports []string // direct, non-test
	deps    []string // transitive, non-test
}

// listPackages runs go list over the module.
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		pkgs[parts[0]] = pkg{path: parts[0], imports: strings.Fields(parts[1]), deps: strings.Fields(parts[2])}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list reported %d packages, want the whole module", len(pkgs))
	}
	return pkgs
}

// rel strips the module path.
func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

// under reports whether p is dir or a package below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// pureForbidden are what the pure pipeline may not import, directly: any
// way to the network or the disk (os, syscall), the stores, libp2p or
// IPFS, and the packages that do I/O (internal/ includes internal/logkey:
// the pipeline does not log, it returns reasons; and internal/evalset,
// which reads labelled sets from disk for the pipeline's tests).
var pureForbidden = []string{
	"net", "net/http", "net/rpc", "net/smtp", "os", "syscall", "io/ioutil",
	"github.com/libp2p", "github.com/ipfs", "github.com/multiformats",
	"github.com/cockroachdb/pebble", "modernc.org/sqlite", "database/sql",
	"github.com/gocolly",
	module + "/storage", module + "/network", module + "/coordinator", module + "/node",
	module + "/feed", module + "/curator", module + "/internal", module + "/offline",
}

// offlineAllowed are the project packages the offline pipeline may import:
// the pure stages, the store and the data contract (no network roles).
var offlineAllowed = []string{"pipeline", "storage", "schemas", logkeyPkg}

// logkeyPkg holds only the shared log attribute keys: a leaf of constants
// that every package but the pure pipeline may import.
const logkeyPkg = "internal/logkey"

// frontierAllowed are the frontier's only imports outside the standard
// library and the module.
var frontierAllowed = map[string]bool{"modernc.org/sqlite": true}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// wiring are the packages allowed to import every role.
var wiring = []string{"cmd/sward", "internal/roles", "internal/cluster", "internal/faults"}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	for path, p := range pkgs {
		r := rel(path)
		switch {
		case r == logkeyPkg:
			if len(p.imports) != 0 {
				t.Errorf("%s imports %v: it must stay a leaf of constants", r, p.imports)
			}
		case under(r, "schemas"):
			// schemas is the leaf: the data contract depends on nothing
			// of the project.
			for _, d := range p.deps {
				if strings.HasPrefix(d, module) && !under(rel(d), "schemas") {
					t.Errorf("%s imports %s: schemas must import no project package", r, rel(d))
				}
			}
		case under(r, "pipeline"):
			for _, imp := range p.imports {
				for _, f := range pureForbidden {
					// "net" itself dials; net/url and net/netip only parse.
					if imp == f || (f != "net" && strings.HasPrefix(imp, f+"/")) {
						t.Errorf("%s imports %s: the pipeline is pure (no network, disk or libp2p)", r, imp)
					}
				}
			}
		case r == "internal/evalset":
			// The pipeline's own tests read labelled sets with it, so it
			// may import nothing of the project (pipeline included), and
			// nothing outside the standard library.
			for _, imp := range p.imports {
				if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					t.Errorf("%s imports %s: it reads files with the standard library only", r, imp)
				}
			}
		case under(r, "frontier"):
			// The frontier is storage for the coordinator, not part of
			// it: it imports schemas and SQLite, and nothing of the
			// coordinator, node, network, storage or pipeline.
			for _, d := range p.deps {
				if strings.HasPrefix(d, module) && !under(rel(d), "schemas") && rel(d) != logkeyPkg {
					t.Errorf("%s depends on %s: the frontier may import only schemas of the project", r, rel(d))
				}
			}
			for _, imp := range p.imports {
				if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !strings.HasPrefix(imp, module) && !frontierAllowed[imp] {
					t.Errorf("%s imports %s: the frontier imports the standard library, schemas and %v only", r, imp, keys(frontierAllowed))
				}
			}
		case under(r, "offline"):
			for _, imp := range p.imports {
				if !strings.HasPrefix(imp, module+"/") {
					continue
				}
				ok := false
				for _, a := range offlineAllowed {
					ok = ok || under(rel(imp), a)
				}
				if !ok {
					t.Errorf("%s imports %s: the offline pipeline may import only %v", r, rel(imp), offlineAllowed)
				}
			}
		case under(r, "node"):
			for _, d := range p.deps {
				if under(rel(d), "coordinator") && strings.HasPrefix(d, module) {
					t.Errorf("%s depends on %s: a node must not import the coordinator", r, rel(d))
				}
			}
		}
		isWiring := false
		for _, w := range wiring {
			if under(r, w) {
				isWiring = true
			}
		}
		if isWiring {
			continue
		}
		// Only the wiring imports the wiring, and only the wiring imports
		// both sides of the network (a scraper node and a coordinator).
		hasNode, hasCoord := false, false
		for _, imp := range p.imports {
			ri := rel(imp)
			if !strings.HasPrefix(imp, module) {
				continue
			}
			for _, w := range wiring[1:] {
				if under(ri, w) {
					t.Errorf("%s imports %s: only cmd/sward and internal wiring may", r, ri)
				}
			}
			hasNode = hasNode || under(ri, "node")
			hasCoord = hasCoord || under(ri, "coordinator")
		}
		if hasNode && hasCoord {
			t.Errorf("%s imports both node and coordinator: only the wiring may", r)
		}
	}
}

package docs_test

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, from this package's directory.
const root = "../.."

// readmeLimit is the most README.md may weigh, in bytes: the door, not the
// house (issue 19).
const readmeLimit = 16 << 10

// pending are pages the README links that other branches add (the lead
// merges them). A link to one resolves while the page is missing; once it
// exists the entry must go, so that the link is checked like any other.
var pending = map[string]string{}

// ---------------------------------------------------------------------------
// The pages, parsed just enough: code (inline spans and fenced lines),
// links, and the anchors GitHub makes of the headings.

type snippet struct {
	text string
	line int
}

type doc struct {
	name    string    // from the repository root, slash-separated
	code    []snippet // inline code spans and the lines of fenced blocks
	spans   []snippet // inline code spans only
	links   []snippet // link targets, outside code
	anchors map[string]bool
}

var (
	fenceRE   = regexp.MustCompile("^\\s*(```|~~~)")
	spanRE    = regexp.MustCompile("`([^`]+)`")
	linkRE    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

func parse(name, text string) doc {
	d := doc{name: name, anchors: map[string]bool{}}
	seen := map[string]int{}
	fence := ""
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
				continue
			case fence == m[1]:
				fence = ""
				continue
			}
		}
		if fence != "" {
			d.code = append(d.code, snippet{line, n})
			continue
		}
		for _, m := range spanRE.FindAllStringSubmatch(line, -1) {
			d.code = append(d.code, snippet{m[1], n})
			d.spans = append(d.spans, snippet{m[1], n})
		}
		prose := spanRE.ReplaceAllString(line, "")
		for _, m := range linkRE.FindAllStringSubmatch(prose, -1) {
			d.links = append(d.links, snippet{m[1], n})
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			a := slug(m[1])
			if k := seen[a]; k > 0 {
				d.anchors[fmt.Sprintf("%s-%d", a, k)] = true
			} else {
				d.anchors[a] = true
			}
			seen[a]++
		}
	}
	return d
}

// slug is the anchor GitHub gives a heading: its text as rendered,
// lowercased, spaces to hyphens, every other character that is not a
// letter, a digit, '-' or '_' dropped.
func slug(heading string) string {
	heading = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pages are README.md and every page under docs/.
func pages(t *testing.T) []doc {
	t.Helper()
	names := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		names = append(names, "docs/"+filepath.Base(m))
	}
	var docs []doc
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, parse(n, string(b)))
	}
	return docs
}

// ---------------------------------------------------------------------------
// The tree the pages describe.

type tree struct {
	root     string
	targets  map[string]bool // the Makefile's targets, as written
	patterns []*regexp.Regexp
	instance []string // each pattern target with its % filled in
	tests    map[string]bool
	admin    map[string]bool // the admin tool's commands
}

var targetRE = regexp.MustCompile(`^([^\s:=#$][^:=]*?)\s*::?(?:[^=]|$)`)

func loadTree(t *testing.T) *tree {
	t.Helper()
	tr := &tree{root: root, targets: map[string]bool{}, tests: map[string]bool{}, admin: map[string]bool{}}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mk), "\n") {
		m := targetRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, tg := range strings.Fields(m[1]) {
			if strings.Contains(tg, "%") {
				tr.patterns = append(tr.patterns, regexp.MustCompile("^"+strings.ReplaceAll(regexp.QuoteMeta(tg), "%", ".+")+"$"))
				tr.instance = append(tr.instance, strings.ReplaceAll(tg, "%", "x"))
			} else {
				tr.targets[tg] = true
			}
		}
	}
	if len(tr.targets) == 0 {
		t.Fatal("no targets parsed from the Makefile")
	}
	adm, err := os.ReadFile(filepath.Join(root, "cmd", "cis-admin", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*case "([a-z-]+)":`).FindAllStringSubmatch(string(adm), -1) {
		tr.admin[m[1]] = true
	}
	if len(tr.admin) == 0 {
		t.Fatal("no commands parsed from cmd/cis-admin/main.go")
	}
	funcRE := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)\w*)\(`)
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case "node_modules", ".git", ".tools", "build":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range funcRE.FindAllStringSubmatch(string(b), -1) {
			tr.tests[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

var placeholderRE = regexp.MustCompile(`<[^>]*>`)

// isTarget: tok names a target of the Makefile. A <placeholder> in tok
// stands for any text (`make build-<Function>` names the pattern rule
// build-%Function).
func (tr *tree) isTarget(tok string) bool {
	if tr.targets[tok] {
		return true
	}
	for _, p := range tr.patterns {
		if p.MatchString(tok) {
			return true
		}
	}
	if !placeholderRE.MatchString(tok) {
		return false
	}
	parts := placeholderRE.Split(tok, -1)
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".+") + "$")
	for tg := range tr.targets {
		if re.MatchString(tg) {
			return true
		}
	}
	for _, in := range tr.instance {
		if re.MatchString(in) {
			return true
		}
	}
	return false
}

// exists: p (slash-separated, from the root; may hold <placeholders> and
// globs) names at least one file or directory of the tree.
func (tr *tree) exists(p string) bool {
	p = strings.TrimSuffix(placeholderRE.ReplaceAllString(p, "*"), "/")
	m, err := filepath.Glob(filepath.Join(tr.root, filepath.FromSlash(p)))
	return err == nil && len(m) > 0
}

// ---------------------------------------------------------------------------
// The checks. Each returns one line per problem found in a page.

type check func(tr *tree, d doc) []string

// A make command in code: `make [VAR=value …] target`.
var makeRE = regexp.MustCompile(`(?:^|[\s;&|(])make((?:\s+[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"[^"]*"|[^\s'"]*))*)\s+([A-Za-z0-9_.%<>-]+)`)

func checkMakeTargets(tr *tree, d doc) []string {
	var bad []string
	for _, c := range d.code {
		for _, m := range makeRE.FindAllStringSubmatch(c.text, -1) {
			if tok := m[2]; !strings.HasPrefix(tok, "-") && !tr.isTarget(tok) {
				bad = append(bad, fmt.Sprintf("%s:%d: `make %s`: the Makefile has no target %s", d.name, c.line, tok, tok))
			}
		}
	}
	return bad
}

// An admin command in code: `cis-admin [-flag …] command`, or
// `make admin ARGS="command …"`.
var adminRE = regexp.MustCompile(`(?:\bcis-admin(?:\s+-\S+)*\s+|\bmake admin ARGS=["']?)([a-z][a-z-]*)`)

func checkAdminCommands(tr *tree, d doc) []string {
	var bad []string
	for _, c := range d.code {
		for _, m := range adminRE.FindAllStringSubmatch(c.text, -1) {
			if !tr.admin[m[1]] {
				bad = append(bad, fmt.Sprintf("%s:%d: the admin tool has no command %s", d.name, c.line, m[1]))
			}
		}
	}
	return bad
}

var goRunRE = regexp.MustCompile(`\bgo run (\./[^\s'"]*)`)

func checkGoRun(tr *tree, d doc) []string {
	var bad []string
	for _, c := range d.code {
		for _, m := range goRunRE.FindAllStringSubmatch(c.text, -1) {
			dir := path.Clean(m[1])
			gos, _ := filepath.Glob(filepath.Join(tr.root, filepath.FromSlash(dir), "*.go"))
			if len(gos) == 0 {
				bad = append(bad, fmt.Sprintf("%s:%d: `go run %s`: no Go package there", d.name, c.line, m[1]))
			}
		}
	}
	return bad
}

// A repository path in backticks: under one of the tree's top directories,
// or one of its files at the root.
var repoPathRE = regexp.MustCompile(`^(?:(?:internal|dev|cmd|functions|events|docs)/[^\s` + "`" + `]*|template\.yaml|samconfig\.toml|Makefile|go\.mod|go\.sum|package\.json|package-lock\.json)$`)

func checkPaths(tr *tree, d doc) []string {
	var bad []string
	for _, s := range d.spans {
		if !repoPathRE.MatchString(s.text) || pending[s.text] != "" {
			continue
		}
		if !tr.exists(s.text) {
			bad = append(bad, fmt.Sprintf("%s:%d: `%s`: no such path in the repository", d.name, s.line, s.text))
		}
	}
	return bad
}

var testNameRE = regexp.MustCompile(`^(?:Test|Benchmark|Fuzz)[A-Z0-9_]\w*$`)

func checkTestNames(tr *tree, d doc) []string {
	var bad []string
	for _, s := range d.spans {
		if testNameRE.MatchString(s.text) && !tr.tests[s.text] {
			bad = append(bad, fmt.Sprintf("%s:%d: `%s`: no test, benchmark or fuzz target of that name", d.name, s.line, s.text))
		}
	}
	return bad
}

// target resolves a relative link of page d: the path from the root (""
// for the page itself) and the anchor. ok is false for an absolute URL.
func target(d doc, link string) (p, anchor string, ok bool) {
	if regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(link) {
		return "", "", false
	}
	p, anchor, _ = strings.Cut(link, "#")
	if p != "" {
		p = path.Clean(path.Join(path.Dir(d.name), p))
	}
	return p, anchor, true
}

func checkLinks(tr *tree, d doc) []string {
	var bad []string
	for _, l := range d.links {
		p, anchor, ok := target(d, l.text)
		if !ok {
			continue
		}
		if p != "" && (strings.HasPrefix(p, "../") || p == "..") {
			bad = append(bad, fmt.Sprintf("%s:%d: %s leaves the repository", d.name, l.line, l.text))
			continue
		}
		if why := pending[p]; why != "" {
			if tr.exists(p) {
				bad = append(bad, fmt.Sprintf("%s:%d: %s exists now: take it out of pending (%s)", d.name, l.line, p, why))
			}
			continue
		}
		anchors := d.anchors
		if p != "" {
			if !tr.exists(p) {
				bad = append(bad, fmt.Sprintf("%s:%d: %s: no such file", d.name, l.line, l.text))
				continue
			}
			if anchor == "" || !strings.HasSuffix(p, ".md") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(tr.root, filepath.FromSlash(p)))
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s:%d: %s: %v", d.name, l.line, l.text, err))
				continue
			}
			anchors = parse(p, string(b)).anchors
		}
		if anchor != "" && !anchors[anchor] {
			bad = append(bad, fmt.Sprintf("%s:%d: %s: no heading makes the anchor #%s", d.name, l.line, l.text, anchor))
		}
	}
	return bad
}

var checks = []struct {
	name  string
	check check
}{
	{"every make target named is a target of the Makefile", checkMakeTargets},
	{"every go run package named exists", checkGoRun},
	{"every admin command named exists", checkAdminCommands},
	{"every repository path named exists", checkPaths},
	{"every test named exists", checkTestNames},
	{"every relative link and anchor resolves", checkLinks},
}

// ---------------------------------------------------------------------------

// TestTheDocsHoldTrue runs every check over README.md and docs/*.md.
func TestTheDocsHoldTrue(t *testing.T) {
	tr := loadTree(t)
	docs := pages(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, d := range docs {
				for _, p := range c.check(tr, d) {
					t.Error(p)
				}
			}
		})
	}
}

// TestEveryDocsPageIsLinkedFromTheReadme: a page nobody can reach from the
// front door is a page nobody reads.
func TestEveryDocsPageIsLinkedFromTheReadme(t *testing.T) {
	docs := pages(t)
	linked := map[string]bool{}
	for _, l := range docs[0].links {
		if p, _, ok := target(docs[0], l.text); ok {
			linked[p] = true
		}
	}
	var missing []string
	for _, d := range docs[1:] {
		if !linked[d.name] {
			missing = append(missing, d.name)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("README.md does not link %s", m)
	}
}

// TestTheReadmeIsAtMost16KB: what it is, the two commands, curl, the
// clients, deploying, links; the rest belongs under docs/.
func TestTheReadmeIsAtMost16KB(t *testing.T) {
	fi, err := os.Stat(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > readmeLimit {
		t.Errorf("README.md is %d bytes, more than %d: move a topic to docs/", fi.Size(), readmeLimit)
	}
}

// TestTheChecksCatchWhatTheyAreFor: each check, given a page that names
// something the tree does not have, says so; given the right name, it is
// silent. Without this the checks above could pass by finding nothing.
func TestTheChecksCatchWhatTheyAreFor(t *testing.T) {
	tr := loadTree(t)
	for _, tc := range []struct {
		name      string
		check     check
		good, bad string
	}{
		{"an unknown make target in a code block", checkMakeTargets,
			"```sh\nmake run PORT=8080\n```\n", "```sh\nmake rnu PORT=8080\n```\n"},
		{"an unknown make target after variables, inline", checkMakeTargets,
			"Run `make GO_TOOLCHAIN=local test`.", "Run `make GO_TOOLCHAIN=local tests`."},
		{"a pattern target with a placeholder", checkMakeTargets,
			"`make build-<Function>`", "`make bild-<Function>`"},
		{"a go run package that is not there", checkGoRun,
			"`go run ./cmd/cis-admin list-users`", "`go run ./cmd/cis-admn list-users`"},
		{"an admin command that does not exist", checkAdminCommands,
			"`make admin ARGS=\"list-users\"`", "`make admin ARGS=\"list-user\"`"},
		{"an admin command after a flag", checkAdminCommands,
			"`cis-admin -quiet=5s remove-user NAME`", "`cis-admin -quiet=5s delete-user NAME`"},
		{"a repository path that is not there", checkPaths,
			"`dev/compat/govmomi_test.go`", "`dev/compat/govmomi.go`"},
		{"a path with a placeholder that matches nothing", checkPaths,
			"`functions/<name>/main.go`", "`functions/<name>/handler.go`"},
		{"a test that does not exist", checkTestNames,
			"`TestTheChecksCatchWhatTheyAreFor`", "`TestTheChecksCatchEverything`"},
		{"a relative link to a missing file", checkLinks,
			"[sessions](SESSIONS.md)", "[sessions](SESSION.md)"},
		{"a link to a missing anchor of another page", checkLinks,
			"[caching](FRONTDOOR.md#caching)", "[caching](FRONTDOOR.md#cache)"},
		{"a link to a missing anchor of the same page", checkLinks,
			"# Title\n\n## Here\n\n[here](#here)", "# Title\n\n## Here\n\n[here](#there)"},
		{"a link out of the repository", checkLinks,
			"[Go](https://go.dev/)", "[up](../../x.md)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.check(tr, parse("docs/TEST.md", tc.good)); len(got) != 0 {
				t.Errorf("good page: %q", got)
			}
			if got := tc.check(tr, parse("docs/TEST.md", tc.bad)); len(got) != 1 {
				t.Errorf("bad page: want one problem, got %q", got)
			}
		})
	}
}

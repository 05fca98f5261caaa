package helper

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/gitrepo"
)

// MaxLineLength bounds one command line from git.
const MaxLineLength = 64 << 10

// Config wires a helper session.
type Config struct {
	Remote Remote
	// Connect, when Remote is nil, opens the remote. Serve calls it at
	// once, in the background, and waits for it at the first command that
	// needs the remote: opening (which may start a store's server) then
	// overlaps git's first exchanges and the local git processes a push
	// starts. Its error ends Serve at that command.
	Connect func() (Remote, error)
	// GitDir is $GIT_DIR as git exported it; empty when git runs the
	// helper outside a repository (git ls-remote), where only list works.
	GitDir string
	In     io.Reader // commands from git
	Out    io.Writer // replies to git: protocol only
	Err    io.Writer // progress and diagnostics
}

// session is the state of one helper process.
type session struct {
	cfg   Config
	in    *bufio.Reader
	out   *bufio.Writer
	local *gitrepo.Repo
	cat   *gitrepo.CatFile

	verbosity         int
	progress          bool
	dryRun            bool
	atomic            bool
	checkConnectivity bool
	cloning           bool
	refetch           bool
	cas               map[string]gitobj.OID
	// forPush holds the values of the last `list for-push`.
	forPush map[string]gitobj.OID
	// refsDone is closed when the local refs listed after a plain `list`
	// (a fetch's haves, read while the remote answers) are in refs.
	refsDone chan struct{}
	refs     []gitrepo.LocalRef
	refsErr  error
	// connected is closed once Config.Connect returned (remote, connErr).
	connected chan struct{}
	remote    Remote
	connErr   error
}

// Serve runs the command loop until git ends it with a blank line or EOF.
// An error means the input was malformed or a command failed in a way
// git must see as fatal; print it and exit non-zero.
func Serve(ctx context.Context, cfg Config) error {
	s := &session{
		cfg:       cfg,
		in:        bufio.NewReaderSize(cfg.In, 64<<10),
		out:       bufio.NewWriter(cfg.Out),
		verbosity: 1,
		cas:       make(map[string]gitobj.OID),
	}
	if s.cfg.Err == nil {
		s.cfg.Err = io.Discard
	}
	s.remote = cfg.Remote
	if s.remote == nil && cfg.Connect != nil {
		s.connected = make(chan struct{})
		go func() {
			defer close(s.connected)
			s.remote, s.connErr = cfg.Connect()
		}()
		// Serve's caller closes what Connect opened: it must be done.
		defer func() { <-s.connected }()
	}
	defer s.close()
	for {
		line, eof, err := s.readLine()
		if err != nil {
			return err
		}
		if eof || line == "" {
			return nil
		}
		if err := s.dispatch(ctx, line); err != nil {
			return err
		}
		if err := s.out.Flush(); err != nil {
			return fmt.Errorf("helper: write to git: %w", err)
		}
	}
}

func (s *session) close() {
	if s.cat != nil {
		_ = s.cat.Close()
	}
}

// readLine reads one command line without its newline. eof is set at a
// clean end of input.
func (s *session) readLine() (string, bool, error) {
	// Not bufio.Reader.ReadLine: it drops a CR before the LF, and a
	// CR must be refused, not ignored.
	var buf []byte
	for {
		chunk, err := s.in.ReadSlice('\n')
		if err == io.EOF && len(buf) == 0 && len(chunk) == 0 {
			return "", true, nil
		}
		if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
			return "", false, fmt.Errorf("helper: read from git: %w", err)
		}
		buf = append(buf, chunk...)
		if len(bytes.TrimSuffix(buf, []byte("\n"))) > MaxLineLength {
			return "", false, fmt.Errorf("helper: command line longer than %d bytes", MaxLineLength)
		}
		if err != bufio.ErrBufferFull {
			break // a whole line, or the last one without its LF
		}
	}
	line := string(bytes.TrimSuffix(buf, []byte("\n")))
	if strings.ContainsAny(line, "\x00\r") {
		return "", false, fmt.Errorf("helper: command line with NUL or CR: %q", line)
	}
	return line, false, nil
}

func (s *session) dispatch(ctx context.Context, line string) error {
	cmd, arg, hasArg := strings.Cut(line, " ")
	switch cmd {
	case "capabilities":
		if hasArg {
			break
		}
		return s.capabilities()
	case "option":
		return s.option(arg)
	case "list":
		if hasArg && arg != "for-push" {
			break
		}
		return s.list(ctx, arg == "for-push")
	case "fetch":
		return s.fetch(ctx, line)
	case "push":
		return s.push(ctx, line)
	}
	return fmt.Errorf("helper: unknown command %q", line)
}

// capabilities implements:
//
//	capabilities
//		Lists the capabilities of the helper, one per line, ending with a
//		blank line.
func (s *session) capabilities() error {
	s.out.WriteString("fetch\npush\noption\ncheck-connectivity\n\n")
	return nil
}

func (s *session) logf(level int, format string, args ...any) {
	if s.verbosity >= level {
		fmt.Fprintf(s.cfg.Err, format, args...)
	}
}

// option implements:
//
//	option <name> <value>
//		Sets the transport helper option <name> to <value>. Outputs a
//		single line containing one of ok (option successfully set),
//		unsupported (option not recognized) or error <msg> (option <name>
//		is supported but <value> is not valid for it).
//
// verbosity, progress, dry-run, atomic, check-connectivity, cloning,
// refetch and force-if-includes (checked by git itself) are supported,
// and cas (--force-with-lease: "<refname>:<expected>", possibly
// C-quoted). Everything else, shallow and partial clones, push options and
// push certificates included, is unsupported.
func (s *session) option(arg string) error {
	name, value, ok := strings.Cut(arg, " ")
	if !ok {
		return fmt.Errorf("helper: malformed option %q", arg)
	}
	reply := "ok"
	boolOpt := func(dst *bool) {
		switch value {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			reply = "error invalid value for " + name + ": " + quoteC(value)
		}
	}
	switch name {
	case "verbosity":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 16 {
			reply = "error invalid verbosity " + quoteC(value)
			break
		}
		s.verbosity = n
	case "progress":
		boolOpt(&s.progress)
	case "dry-run":
		boolOpt(&s.dryRun)
	case "atomic":
		boolOpt(&s.atomic)
	case "check-connectivity":
		boolOpt(&s.checkConnectivity)
	case "cloning":
		boolOpt(&s.cloning)
	case "refetch":
		boolOpt(&s.refetch)
	case "force-if-includes":
		var v bool
		boolOpt(&v)
	case "cas":
		if err := s.setCAS(value); err != nil {
			reply = "error " + quoteC(reason(err))
		}
	default:
		reply = "unsupported"
	}
	s.out.WriteString(reply + "\n")
	return nil
}

// setCAS records "option cas <refname>:<expected>" (--force-with-lease).
func (s *session) setCAS(value string) error {
	v, err := unquoteC(value)
	if err != nil {
		return err
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return fmt.Errorf("helper: cas %q: want <refname>:<oid>", v)
	}
	ref, hex := v[:i], v[i+1:]
	if err := CheckRefName(ref); err != nil {
		return err
	}
	id, err := gitobj.ParseOID(hex)
	if err != nil {
		return fmt.Errorf("helper: cas %q: %w", v, err)
	}
	s.cas[ref] = id
	return nil
}

// list implements:
//
//	list
//		Lists the refs, one per line, in the format "<value> <name>
//		[<attr> ...]". The value may be a hex sha1 hash, "@<dest>" for a
//		symref, ":<keyword> <value>" for a key-value pair, or "?" to
//		indicate that the helper could not get the value of the ref. A
//		space-separated list of attributes follows the name; unrecognized
//		attributes are ignored. The list ends with a blank line.
//	list for-push
//		Similar to list, except that it is used if and only if the caller
//		wants to the resulting ref list to prepare push commands.
//
// list for-push leaves HEAD out, as git's receive-pack advertisement does.
// Annotated tags are followed by "<peeled> <tag>^{}" in a plain list, as
// in git's own ref advertisement, so that git auto-follows tags.
func (s *session) list(ctx context.Context, forPush bool) error {
	if forPush && s.cfg.GitDir != "" {
		// A push follows, and it reads local objects: start the reader
		// now, so that git's start-up overlaps the remote's answer (and
		// the start of the store's server). An error here comes back when
		// the push asks for the reader.
		_, _ = s.catFile(ctx)
	}
	if s.cfg.GitDir != "" && s.refsDone == nil {
		// The local refs are read meanwhile: a fetch's haves, or the
		// values of the refs a push names in full (localRefs).
		if local, err := s.localRepo(ctx); err == nil {
			done := make(chan struct{})
			s.refsDone = done
			go func() {
				s.refs, s.refsErr = local.Refs(ctx)
				close(done)
			}()
		}
	}
	remote, err := s.connect()
	if err != nil {
		return err
	}
	refs, err := remote.List(ctx, forPush)
	if err != nil {
		return fmt.Errorf("helper: list: %w", err)
	}
	if forPush {
		s.forPush = make(map[string]gitobj.OID, len(refs))
	}
	for _, r := range refs {
		if forPush && r.Name == "HEAD" {
			// receive-pack does not advertise HEAD either: a mirror push
			// would otherwise try to delete it.
			continue
		}
		if r.Symref != "" {
			fmt.Fprintf(s.out, "@%s %s\n", r.Symref, r.Name)
			continue
		}
		fmt.Fprintf(s.out, "%s %s\n", r.OID, r.Name)
		if forPush {
			s.forPush[r.Name] = r.OID
		} else if r.Peeled.Valid() {
			fmt.Fprintf(s.out, "%s %s^{}\n", r.Peeled, r.Name)
		}
	}
	s.out.WriteString("\n")
	return nil
}

// connect waits for the remote (Config.Connect).
func (s *session) connect() (Remote, error) {
	if s.connected != nil {
		<-s.connected
	}
	if s.remote == nil && s.connErr == nil {
		return nil, errors.New("helper: no remote")
	}
	return s.remote, s.connErr
}

// localRefList returns the local refs: the ones read after `list`, the first
// time, then fresh ones.
func (s *session) localRefList(ctx context.Context, local *gitrepo.Repo) ([]gitrepo.LocalRef, error) {
	if done := s.refsDone; done != nil {
		<-done
		s.refsDone = nil
		return s.refs, s.refsErr
	}
	return local.Refs(ctx)
}

// localRepo opens $GIT_DIR on first use.
func (s *session) localRepo(ctx context.Context) (*gitrepo.Repo, error) {
	if s.local != nil {
		return s.local, nil
	}
	if s.cfg.GitDir == "" {
		return nil, errors.New("helper: no local repository (GIT_DIR is not set)")
	}
	r, err := gitrepo.Open(ctx, s.cfg.GitDir)
	if err != nil {
		return nil, fmt.Errorf("helper: %w", err)
	}
	if r.Format() != gitobj.SHA1 {
		return nil, fmt.Errorf("helper: object format %s is not supported yet", r.Format())
	}
	s.local = r
	return r, nil
}

func (s *session) catFile(ctx context.Context) (*gitrepo.CatFile, error) {
	if s.cat != nil {
		return s.cat, nil
	}
	r, err := s.localRepo(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.CatFile(ctx)
	if err != nil {
		return nil, fmt.Errorf("helper: %w", err)
	}
	s.cat = c
	return c, nil
}

// batch reads the rest of a batch that started with first: lines with
// the same command word up to a blank line (or EOF, which git never sends
// mid-batch but which ends the batch cleanly).
func (s *session) batch(first, word string) ([]string, error) {
	lines := []string{first}
	for {
		line, eof, err := s.readLine()
		if err != nil {
			return nil, err
		}
		if eof || line == "" {
			return lines, nil
		}
		if !strings.HasPrefix(line, word+" ") {
			return nil, fmt.Errorf("helper: %q inside a %s batch", line, word)
		}
		lines = append(lines, line)
	}
}

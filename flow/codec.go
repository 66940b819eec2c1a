package flow

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Writer writes records as NDJSON: one JSON object per line, keys named as
// in Fields. Empty strings and zero identity numbers are left out; a reader
// reads a missing field as its zero value. Counters are always written.
type Writer struct {
	w   *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer that writes to w. Call Flush when done.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write writes one record as one line.
func (w *Writer) Write(r *Record) error {
	w.buf = AppendJSON(w.buf[:0], r)
	w.buf = append(w.buf, '\n')
	_, err := w.w.Write(w.buf)
	return err
}

// Flush writes buffered lines to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// AppendJSON appends the JSON object of r to dst.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, '{')
	first := true
	key := func(name string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	for i := range Fields {
		f := &Fields[i]
		switch f.Type {
		case TypeTime:
			t := f.Time(r)
			if t.IsZero() {
				continue
			}
			key(f.Name)
			dst = append(dst, '"')
			dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
			dst = append(dst, '"')
		case TypeInt:
			v := f.Num(r)
			if v == 0 && f.Section != sectionCounters {
				continue
			}
			key(f.Name)
			dst = strconv.AppendInt(dst, v, 10)
		default:
			v := f.Str(r)
			if v == "" {
				continue
			}
			key(f.Name)
			dst = appendJSONString(dst, v)
		}
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string. Names, addresses and process
// names are almost always plain ASCII, so that case is quoted inline.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// ParseError is a malformed line of a recorded file.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

// Open opens a recorded NDJSON file, gzip-compressed or not (detected from
// its first bytes). The name "-" reads standard input.
func Open(name string, stdin io.Reader) (*Reader, error) {
	if name == "-" {
		return NewReader(stdin, "<stdin>")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// Reader decodes NDJSON flow records. It decodes on all cores and hands the
// records over in file order.
type Reader struct {
	name   string
	src    io.Reader
	closer io.Closer
	gz     *gzip.Reader
}

// NewReader returns a Reader of r. The name is used in error messages.
func NewReader(r io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	rd := &Reader{name: name, src: br}
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rd.gz = gz
		rd.src = bufio.NewReaderSize(gz, 1<<20)
	}
	return rd, nil
}

// Close closes the underlying file, if the Reader opened it.
func (r *Reader) Close() error {
	if r.gz != nil {
		r.gz.Close()
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

const chunkSize = 1 << 20

type chunk struct {
	data      []byte
	firstLine int
	records   []Record
	err       error
	done      chan struct{}
}

// ReadBatches decodes the whole stream and calls fn with the records in file
// order, a batch at a time. fn must not keep the slice. The first malformed
// line stops the read with a *ParseError naming the file and line.
func (r *Reader) ReadBatches(ctx context.Context, fn func([]Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := newDecoder()
			for c := range jobs {
				c.records, c.err = d.decodeChunk(c.data, c.firstLine, r.name)
				close(c.done)
			}
		}()
	}

	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(jobs)
		readErr <- r.split(ctx, jobs, ordered)
	}()

	var err error
	for c := range ordered {
		<-c.done
		if err != nil {
			continue // drain
		}
		if c.err != nil {
			err = c.err
			cancel()
			continue
		}
		if len(c.records) > 0 {
			if ferr := fn(c.records); ferr != nil {
				err = ferr
				cancel()
			}
		}
	}
	wg.Wait()
	if rerr := <-readErr; err == nil && rerr != nil && !errors.Is(rerr, context.Canceled) {
		err = fmt.Errorf("%s: %w", r.name, rerr)
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// split cuts the stream into chunks of whole lines.
func (r *Reader) split(ctx context.Context, jobs, ordered chan<- *chunk) error {
	line := 1
	var carry []byte
	for {
		buf := make([]byte, len(carry), len(carry)+chunkSize)
		copy(buf, carry)
		n, err := io.ReadFull(r.src, buf[len(carry):cap(buf)])
		buf = buf[:len(carry)+n]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return err
		}
		var data []byte
		if eof {
			data, carry = buf, nil
		} else if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			data, carry = buf[:i+1], buf[i+1:]
		} else {
			carry = buf // a line longer than a chunk: read on
			continue
		}
		if len(data) > 0 {
			c := &chunk{data: data, firstLine: line, done: make(chan struct{})}
			line += bytes.Count(data, []byte{'\n'})
			select {
			case ordered <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- c:
			case <-ctx.Done():
				close(c.done)
				return ctx.Err()
			}
		}
		if eof {
			return nil
		}
	}
}

// decoder decodes lines into records. Each worker owns one: the parser and
// the string table are not safe for concurrent use.
type decoder struct {
	p      fastjson.Parser
	strs   map[string]string
	lastTS string
	lastT  time.Time
}

// maxInterned bounds the string table; past it the table starts over.
const maxInterned = 1 << 18

func newDecoder() *decoder { return &decoder{strs: make(map[string]string)} }

// intern returns a string equal to b that is shared by every record that
// holds the same value: recorded flows repeat the same names every interval.
func (d *decoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if len(d.strs) >= maxInterned {
		clear(d.strs)
	}
	s := string(b)
	if !utf8.ValidString(s) {
		// JSON text must be UTF-8; keep what a writer would write back.
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	d.strs[s] = s
	return s
}

func (d *decoder) decodeChunk(data []byte, firstLine int, name string) ([]Record, error) {
	recs := make([]Record, 0, bytes.Count(data, []byte{'\n'})+1)
	line := firstLine
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		if len(bytes.TrimSpace(l)) > 0 {
			recs = append(recs, Record{})
			if err := d.decodeLine(l, &recs[len(recs)-1]); err != nil {
				return nil, &ParseError{File: name, Line: line, Err: err}
			}
		}
		line++
	}
	return recs, nil
}

// DecodeLine decodes one JSON object into r.
func DecodeLine(line []byte, r *Record) error {
	return newDecoder().decodeLine(line, r)
}

// lookupKey finds the field of a JSON key. Writers put keys in table order,
// so the search starts after the previous key's field and rarely compares
// more than a few names; other orders fall back to the map.
func lookupKey(key []byte, next *int) *Field {
	for i := *next; i < len(Fields); i++ {
		if Fields[i].Name == string(key) {
			*next = i + 1
			return &Fields[i]
		}
	}
	return fieldsByName[string(key)]
}

func (d *decoder) decodeLine(line []byte, r *Record) error {
	v, err := d.p.ParseBytes(line)
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	obj, err := v.Object()
	if err != nil {
		return fmt.Errorf("expected a JSON object, got %s", v.Type())
	}
	var ferr error
	next := 0
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		f := lookupKey(key, &next)
		if f == nil || v.Type() == fastjson.TypeNull {
			return // fields of newer versions are skipped
		}
		switch f.Type {
		case TypeString:
			b, err := v.StringBytes()
			if err != nil {
				ferr = fmt.Errorf("field %q: expected a string, got %s", f.Name, v.Type())
				return
			}
			*f.str(r) = d.intern(b)
		case TypeInt:
			n, err := v.Int64()
			if err != nil {
				ferr = fmt.Errorf("field %q: expected an integer, got %s", f.Name, v)
				return
			}
			*f.num(r) = n
		case TypeTime:
			b, err := v.StringBytes()
			if err != nil {
				ferr = fmt.Errorf("field %q: expected an RFC 3339 time string, got %s", f.Name, v.Type())
				return
			}
			if string(b) == d.lastTS {
				*f.time(r) = d.lastT
				return
			}
			t, err := time.Parse(time.RFC3339Nano, string(b))
			if err != nil {
				ferr = fmt.Errorf("field %q: expected an RFC 3339 time, got %q", f.Name, b)
				return
			}
			d.lastTS, d.lastT = string(b), t
			*f.time(r) = t
		}
	})
	return ferr
}

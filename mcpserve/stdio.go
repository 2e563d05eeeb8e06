package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxLineLength is the longest stdio message the server reads (the SDK's
// default). A longer line is answered with an error and skipped.
const MaxLineLength = mcp.DefaultMaxLineLength

// lineTransport is newline-delimited JSON-RPC over a reader and a writer,
// like the SDK's IOTransport, except that a line that is not one JSON-RPC
// message (not JSON, not UTF-8, not an object, a batch, too long) is
// answered with a JSON-RPC error and the server goes on reading: one bad
// line from a client must not end the session (case H13).
type lineTransport struct {
	r       io.ReadCloser
	w       io.WriteCloser
	maxLine int
	// drain, when set, runs when the reader ends, before the end is
	// passed on: it waits for the requests already read to be answered.
	drain func()
}

func (t *lineTransport) Connect(context.Context) (mcp.Connection, error) {
	c := &lineConn{w: t.w, r: t.r, drain: t.drain, incoming: make(chan lineMsg), closed: make(chan struct{})}
	max := t.maxLine
	if max <= 0 {
		max = MaxLineLength
	}
	go c.readLoop(max)
	return c, nil
}

type lineMsg struct {
	msg jsonrpc.Message
	err error
}

type lineConn struct {
	r     io.ReadCloser
	drain func()

	writeMu sync.Mutex // whole messages: the SDK's and the transport's own
	w       io.WriteCloser

	incoming  chan lineMsg
	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

func (c *lineConn) SessionID() string { return "" }

// readLoop reads lines until the reader ends, passing messages on and
// answering the ones that cannot be handled.
func (c *lineConn) readLoop(max int) {
	br := bufio.NewReaderSize(c.r, 64<<10)
	for {
		line, tooLong, err := readLine(br, max)
		if len(line) > 0 || tooLong {
			if msg, ok := c.decode(line, tooLong, max); ok {
				select {
				case c.incoming <- lineMsg{msg: msg}:
				case <-c.closed:
					return
				}
			}
		}
		if err != nil {
			if c.drain != nil {
				c.drain()
			}
			select {
			case c.incoming <- lineMsg{err: err}:
			case <-c.closed:
			}
			return
		}
	}
}

// readLine returns the next line without its line ending. A line longer
// than max is read to its end and dropped (tooLong set, line nil).
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > max+2 { // +2: the line ending
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > max {
			return nil, true, err
		}
		return line, false, err
	}
}

// decode turns one line into a message, or answers it with an error.
func (c *lineConn) decode(line []byte, tooLong bool, max int) (jsonrpc.Message, bool) {
	trimmed := bytes.TrimSpace(line)
	switch {
	case tooLong:
		c.reject(nil, jsonrpc.CodeInvalidRequest, fmt.Sprintf("Invalid Request: message longer than %d bytes", max))
		return nil, false
	case len(trimmed) == 0:
		return nil, false // blank lines are allowed between messages
	case !utf8.Valid(trimmed):
		c.reject(nil, jsonrpc.CodeParseError, "Parse error: message is not valid UTF-8")
		return nil, false
	case !json.Valid(trimmed):
		c.reject(nil, jsonrpc.CodeParseError, "Parse error: message is not valid JSON")
		return nil, false
	case trimmed[0] == '[':
		c.reject(nil, jsonrpc.CodeInvalidRequest, "Invalid Request: JSON-RPC batches are not supported; send one message a line")
		return nil, false
	case trimmed[0] != '{':
		c.reject(nil, jsonrpc.CodeInvalidRequest, "Invalid Request: a message must be a JSON object")
		return nil, false
	}
	msg, err := jsonrpc.DecodeMessage(trimmed)
	if err != nil {
		c.reject(requestID(trimmed), jsonrpc.CodeInvalidRequest, "Invalid Request: "+oneLine(err.Error()))
		return nil, false
	}
	return msg, true
}

// requestID is the id of a message that failed to decode, when it has a
// valid one (a string or a number), else nil (sent as null).
func requestID(data []byte) json.RawMessage {
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(data, &m) != nil || len(m.ID) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(m.ID, &v) != nil {
		return nil
	}
	switch v.(type) {
	case string, float64:
		return m.ID
	}
	return nil
}

// reject writes an error response for a message the SDK never sees. Only
// requests are answered; nothing can be answered to a notification, but a
// message that cannot be read is answered with id null (JSON-RPC 2.0 §5).
func (c *lineConn) reject(id json.RawMessage, code int64, message string) {
	if id == nil {
		id = json.RawMessage("null")
	}
	data, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   jsonrpc.Error   `json:"error"`
	}{"2.0", id, jsonrpc.Error{Code: code, Message: message}})
	if err != nil {
		return
	}
	c.writeLine(data)
}

func (c *lineConn) writeLine(data []byte) error {
	data = append(data, '\n')
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.w.Write(data)
	return err
}

func (c *lineConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case v := <-c.incoming:
		return v.msg, v.err
	case <-c.closed:
		return nil, io.EOF
	}
}

func (c *lineConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("marshaling message: %v", err)
	}
	return c.writeLine(data)
}

func (c *lineConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = errors.Join(c.r.Close(), c.w.Close())
		close(c.closed)
	})
	return c.closeErr
}

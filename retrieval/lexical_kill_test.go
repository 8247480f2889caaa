package retrieval

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// indexKillDirEnv, when set, makes TestIndexKillHelperProcess the child of
// TestIndexesReopenAfterKill: it writes into the indexes in that directory
// until it is killed.
const indexKillDirEnv = "ZHIWEN_INDEX_KILL_DIR"

// TestIndexKillHelperProcess is not a test on its own: it does work only in
// the child process that TestIndexesReopenAfterKill starts and kills.
func TestIndexKillHelperProcess(t *testing.T) {
	dir := os.Getenv(indexKillDirEnv)
	if dir == "" {
		return
	}
	ctx := context.Background()
	l, err := OpenLexical(filepath.Join(dir, "lex"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	d, err := OpenDense(filepath.Join(dir, "dense"), NewHashEmbedder(64))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	for batch := 0; ; batch++ {
		ps := make([]Passage, 200)
		for i := range ps {
			ps[i] = Passage{ID: fmt.Sprintf("b%d-%d", batch, i), DocID: fmt.Sprint(batch), Text: fmt.Sprintf("第%d批 第%d段 北京上海广州深圳", batch, i)}
		}
		if err := l.Put(ctx, ps); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		if err := d.Put(ctx, ps); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		if batch%3 == 2 {
			// churn: delete an earlier batch, as a document replace does
			var del []string
			for i := range 200 {
				del = append(del, fmt.Sprintf("b%d-%d", batch-2, i))
			}
			if err := l.Delete(ctx, del); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
			if err := d.Delete(ctx, del); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
		}
		fmt.Printf("committed %d\n", batch)
	}
}

// TestIndexesReopenAfterKill kills a process in the middle of writing to a
// Lexical and a Dense index and checks that both reopen, keep every batch
// acknowledged before the kill, and accept new writes.
func TestIndexesReopenAfterKill(t *testing.T) {
	if os.Getenv(indexKillDirEnv) != "" {
		return
	}
	ctx := context.Background()
	for round, delay := range []time.Duration{0, 37 * time.Millisecond, 150 * time.Millisecond} {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestIndexKillHelperProcess$")
		cmd.Env = append(os.Environ(), indexKillDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for a few acknowledged batches, then kill at a varying point.
		sc := bufio.NewScanner(out)
		committed := -1
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error:") {
				t.Fatalf("child: %s", line)
			}
			if _, err := fmt.Sscanf(line, "committed %d", &committed); err == nil && committed >= 3+round {
				break
			}
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if committed < 0 {
			t.Fatalf("round %d: child committed nothing", round)
		}

		l, err := OpenLexical(filepath.Join(dir, "lex"))
		if err != nil {
			t.Fatalf("round %d: reopen lexical after kill: %v", round, err)
		}
		d, err := OpenDense(filepath.Join(dir, "dense"), NewHashEmbedder(64))
		if err != nil {
			t.Fatalf("round %d: reopen dense after kill: %v", round, err)
		}
		// The last acknowledged batch was never deleted (deletes trail by two).
		last := []string{fmt.Sprintf("b%d-0", committed), fmt.Sprintf("b%d-199", committed)}
		f := Filter{DocIDs: []string{fmt.Sprint(committed)}}
		lex, err := l.Search(ctx, "北京", 300, f)
		if err != nil || len(lex) != 200 {
			t.Errorf("round %d: lexical has %d of batch %d's 200 passages (err %v)", round, len(lex), committed, err)
		}
		dense, err := d.Search(ctx, "北京", 300, f)
		if err != nil || len(dense) != 200 {
			t.Errorf("round %d: dense has %d of batch %d's 200 passages (err %v)", round, len(dense), committed, err)
		}
		if err := l.Put(ctx, []Passage{{ID: last[0], DocID: "new", Text: "重新写入"}}); err != nil {
			t.Errorf("round %d: lexical put after kill: %v", round, err)
		}
		if err := d.Put(ctx, []Passage{{ID: last[1], DocID: "new", Text: "重新写入"}}); err != nil {
			t.Errorf("round %d: dense put after kill: %v", round, err)
		}
		if err := d.Delete(ctx, []string{"never-existed"}); err != nil {
			t.Errorf("round %d: delete of an unknown id: %v", round, err)
		}
		l.Close()
		d.Close()
	}
}

package tokenizer

import (
	"reflect"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

func TestPreTokenizerSplits(t *testing.T) {
	qwen2 := preTokenizer{style: styleLlama3, maxDigits: 1}
	llama3 := preTokenizer{style: styleLlama3, maxDigits: 3}
	gpt2 := preTokenizer{style: styleGPT2}
	tests := []struct {
		name string
		pre  preTokenizer
		text string
		want []string
	}{
		{"words", qwen2, "Hello world", []string{"Hello", " world"}},
		{"space run keeps last space for the word", qwen2, "  Hello", []string{" ", " Hello"}},
		{"inner space run", qwen2, "a   b", []string{"a", "  ", " b"}},
		{"trailing spaces stay together", qwen2, "a  ", []string{"a", "  "}},
		{"whitespace up to the last newline", qwen2, "x \n\n y", []string{"x", " \n\n", " y"}},
		{"tabs", qwen2, "\t\tfoo", []string{"\t", "\tfoo"}},
		{"punctuation takes trailing newlines", qwen2, "hi!!\n\nthere", []string{"hi", "!!\n\n", "there"}},
		{"space before punctuation", qwen2, "a (b)", []string{"a", " (", "b", ")"}},
		{"contractions any case", qwen2, "I'M we'Ve", []string{"I", "'M", " we", "'Ve"}},
		{"single digits", qwen2, "x123", []string{"x", "1", "2", "3"}},
		{"digits in threes", llama3, "12345 6", []string{"123", "45", " ", "6"}},
		{"punctuation prefixes the next letter run", qwen2, "你好，世界", []string{"你好", "，世界"}},
		{"a mark prefixes the next letter run", qwen2, "ខ្ញុំ", []string{"ខ", "្ញ", "ុំ"}},
		{"gpt2 contractions are case-sensitive", gpt2, "I'M here", []string{"I", "'", "M", " here"}},
		{"gpt2 numbers keep a leading space", gpt2, " 123abc", []string{" 123", "abc"}},
		{"gpt2 newlines are plain whitespace", gpt2, "a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"empty", qwen2, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			tc.pre.split(tc.text, func(p string) { got = append(got, p) })
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("split(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// TestCJKFastPath checks the shortcut in classOf against the Unicode tables.
func TestCJKFastPath(t *testing.T) {
	for _, rng := range [][2]rune{{0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}} {
		for r := rng[0]; r <= rng[1]; r++ {
			if !unicode.IsLetter(r) {
				t.Fatalf("%U is not a letter in Go's Unicode %s tables", r, unicode.Version)
			}
		}
	}
}

// TestSurelyNFC checks the NFC shortcut against x/text over every rune it
// accepts, alone and followed by each combining mark U+0300–U+036F.
func TestSurelyNFC(t *testing.T) {
	for r := rune(0); r <= 0xFFFF; r++ {
		s := string(r)
		if !surelyNFC(s) {
			continue
		}
		if !norm.NFC.IsNormalString(s) {
			t.Fatalf("%U accepted but not NFC", r)
		}
	}
	for _, s := range []string{"e\u0301", "한\u11a8", "\u0041\u030a"} {
		if surelyNFC(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

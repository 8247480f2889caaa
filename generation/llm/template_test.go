package llm

import (
	"encoding/json"
	"os"
	"testing"
)

func TestTemplateRender(t *testing.T) {
	msgs := []Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "你好"},
		{Role: "assistant", Content: "你好！"},
		{Role: "user", Content: "1+1?"},
	}
	cases := []struct {
		kind TemplateKind
		want string
	}{
		{TemplateChatML, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n" +
			"<|im_start|>assistant\n你好！<|im_end|>\n<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"},
		{TemplateLlama3, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\n你好<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n你好！<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\n1+1?<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		{TemplateChatGLM3, "[gMASK]sop<|system|>\n Be brief.<|user|>\n 你好<|assistant|>\n 你好！<|user|>\n 1+1?<|assistant|>"},
		{TemplateGLM4, "[gMASK]<sop><|system|>\nBe brief.<|user|>\n你好<|assistant|>\n你好！<|user|>\n1+1?<|assistant|>\n"},
	}
	for _, tc := range cases {
		tpl := Template{Kind: tc.kind}
		t.Run(tpl.Name(), func(t *testing.T) {
			if got := tpl.Render(msgs, true); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestTemplateQwenFromTokenizerConfig recognizes the real Qwen2.5 template
// and renders its default system prompt.
func TestTemplateQwenFromTokenizerConfig(t *testing.T) {
	raw, err := os.ReadFile(testdataPath(t, "tokenizer", "qwen2.5", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ChatTemplate string `json:"chat_template"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	tpl := TemplateFor(cfg.ChatTemplate, "qwen2")
	if tpl.Kind != TemplateChatML {
		t.Fatalf("kind %v, want ChatML", tpl.Name())
	}
	got := tpl.Render([]Message{{Role: "user", Content: "hi"}}, true)
	want := "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
		"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestTemplateFor(t *testing.T) {
	cases := []struct {
		chat, arch string
		want       TemplateKind
	}{
		{"{% for m in messages %}<|im_start|>{{m.role}}", "llama", TemplateChatML},
		{"<|start_header_id|>' + message['role'] + '<|end_header_id|>", "qwen2", TemplateLlama3},
		{"[gMASK]<sop>{% for item in messages %}", "chatglm", TemplateGLM4},
		{"{% for message in messages %}[gMASK]sop<|{{ message['role'] }}|>", "chatglm", TemplateChatGLM3},
		{"", "chatglm", TemplateChatGLM3},
		{"", "llama", TemplateLlama3},
		{"", "qwen2", TemplateChatML},
	}
	for _, tc := range cases {
		if got := TemplateFor(tc.chat, tc.arch).Kind; got != tc.want {
			t.Errorf("TemplateFor(%q, %q) = %v, want %v", tc.chat, tc.arch, got, tc.want)
		}
	}
}

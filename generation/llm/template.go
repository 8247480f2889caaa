package llm

import "strings"

// Message is one chat turn. Role is "system", "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// TemplateKind identifies a chat prompt format.
type TemplateKind int

const (
	// TemplateChatML is <|im_start|>role\ncontent<|im_end|>\n (Qwen).
	TemplateChatML TemplateKind = iota + 1
	// TemplateLlama3 is <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>.
	TemplateLlama3
	// TemplateChatGLM3 is [gMASK]sop<|role|>\n content.
	TemplateChatGLM3
	// TemplateGLM4 is [gMASK]<sop><|role|>\ncontent.
	TemplateGLM4
)

// Template renders chat messages into a prompt string for one model family.
// Special tokens appear as text; encode the result with special-token
// parsing on. BOS is not included: the tokenizer adds it when the model
// wants one.
type Template struct {
	Kind TemplateKind
	// DefaultSystem is inserted as the system message when the messages
	// have none (Qwen2.5's template does this).
	DefaultSystem string
}

// qwenDefaultSystem is the system prompt Qwen2.5's template inserts.
const qwenDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

// TemplateFor picks a template from a GGUF tokenizer.chat_template string,
// recognized by distinctive substrings, falling back to the architecture
// when the string is empty or unknown.
func TemplateFor(chatTemplate, arch string) Template {
	switch {
	case strings.Contains(chatTemplate, "<|im_start|>"):
		t := Template{Kind: TemplateChatML}
		if strings.Contains(chatTemplate, qwenDefaultSystem) {
			t.DefaultSystem = qwenDefaultSystem
		}
		return t
	case strings.Contains(chatTemplate, "<|start_header_id|>") && strings.Contains(chatTemplate, "<|end_header_id|>"):
		return Template{Kind: TemplateLlama3}
	case strings.Contains(chatTemplate, "[gMASK]<sop>"):
		return Template{Kind: TemplateGLM4}
	case strings.Contains(chatTemplate, "[gMASK]sop"):
		return Template{Kind: TemplateChatGLM3}
	}
	switch arch {
	case "llama":
		return Template{Kind: TemplateLlama3}
	case "chatglm":
		return Template{Kind: TemplateChatGLM3}
	default:
		return Template{Kind: TemplateChatML}
	}
}

// Name is a short name of the format.
func (t Template) Name() string {
	switch t.Kind {
	case TemplateLlama3:
		return "llama3"
	case TemplateChatGLM3:
		return "chatglm3"
	case TemplateGLM4:
		return "glm4"
	default:
		return "chatml"
	}
}

// Stops lists the text markers that end an assistant turn in this format,
// for use as stop strings when the tokenizer does not mark them end-of-generation.
func (t Template) Stops() []string {
	switch t.Kind {
	case TemplateLlama3:
		return []string{"<|eot_id|>"}
	case TemplateChatGLM3, TemplateGLM4:
		return []string{"<|user|>", "<|observation|>"}
	default:
		return []string{"<|im_end|>"}
	}
}

// Render formats msgs as a prompt. With addGenerationPrompt the prompt ends
// with the header of an assistant turn, ready for generation.
func (t Template) Render(msgs []Message, addGenerationPrompt bool) string {
	if t.DefaultSystem != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		msgs = append([]Message{{Role: "system", Content: t.DefaultSystem}}, msgs...)
	}
	var b strings.Builder
	switch t.Kind {
	case TemplateLlama3:
		for _, m := range msgs {
			b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + strings.TrimSpace(m.Content) + "<|eot_id|>")
		}
		if addGenerationPrompt {
			b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case TemplateChatGLM3:
		b.WriteString("[gMASK]sop")
		for _, m := range msgs {
			b.WriteString("<|" + m.Role + "|>\n " + m.Content)
		}
		if addGenerationPrompt {
			b.WriteString("<|assistant|>")
		}
	case TemplateGLM4:
		b.WriteString("[gMASK]<sop>")
		for _, m := range msgs {
			b.WriteString("<|" + m.Role + "|>\n" + m.Content)
		}
		if addGenerationPrompt {
			b.WriteString("<|assistant|>\n")
		}
	default:
		for _, m := range msgs {
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<|im_start|>assistant\n")
		}
	}
	return b.String()
}

package mcts

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/helios-vcs/helios/mcts/propose"
)

// ProposerOptions configure NewProposer.
type ProposerOptions struct {
	LLMURL, LLMModel, LLMKey string
	Stderr                   io.Writer
}

// NewProposer makes the proposer a --proposer flag names: "mutate",
// "command:CMD" or "openai".
func NewProposer(spec string, o ProposerOptions) (propose.Proposer, error) {
	switch {
	case spec == "" || spec == "mutate":
		return &propose.Mutate{}, nil
	case strings.HasPrefix(spec, "command:"):
		cmd := strings.TrimSpace(strings.TrimPrefix(spec, "command:"))
		if cmd == "" {
			return nil, errors.New("mcts: --proposer command: needs a command")
		}
		return &propose.Command{Cmd: cmd, Stderr: o.Stderr}, nil
	case spec == "openai":
		if o.LLMURL == "" || o.LLMModel == "" {
			return nil, errors.New("mcts: --proposer openai needs --llm-url and --llm-model")
		}
		return &propose.OpenAI{URL: o.LLMURL, Model: o.LLMModel, APIKey: o.LLMKey}, nil
	}
	return nil, fmt.Errorf("mcts: unknown proposer %q (mutate, command:CMD, openai)", spec)
}

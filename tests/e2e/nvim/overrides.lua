-- Loaded before the docs' snippet (tests/e2e/test_neovim.py): the snippet runs verbatim, and the
-- test only takes the timers out, on both sides, so it waits for work and not for a debounce.
-- Wrapping both start functions covers every snippet: vim.lsp.enable (0.11) calls vim.lsp.start,
-- which calls vim.lsp.start_client on 0.8-0.10; merging twice is harmless.
local overrides = {
  init_options = { debounceMs = 0 },
  flags = { debounce_text_changes = 0 },
}

for _, name in ipairs({ "start", "start_client" }) do
  local original = vim.lsp[name]
  if original ~= nil then
    vim.lsp[name] = function(config, ...)
      return original(vim.tbl_deep_extend("force", config, overrides), ...)
    end
  end
end

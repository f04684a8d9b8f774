-- One end-to-end scenario in a real headless Neovim, driven by tests/e2e/test_neovim.py and
-- written for both Neovim 0.7 and 0.11 APIs. Loaded after the docs' snippet; does its work on
-- VimEnter (the file's buffer does not exist while init runs) and always quits, writing what it
-- saw as JSON to $RISKHINTS_E2E_RESULT (headless messages would go to stderr only).
--
-- $RISKHINTS_E2E_MODE:
--   suppress  apply the "Suppress ..." quick fix of each diagnostic until none is left
--   fix       apply the first quick fix titled "Replace ..." or "Use ..." if there is one
-- $RISKHINTS_E2E_EXPECT: how many diagnostics the file has at first. Settings reach the server
-- after the document may have been analysed once, so "some diagnostics" is not yet "all".

local result_path = assert(os.getenv("RISKHINTS_E2E_RESULT"), "RISKHINTS_E2E_RESULT is unset")
local mode = os.getenv("RISKHINTS_E2E_MODE") or "suppress"
local expected_count = tonumber(os.getenv("RISKHINTS_E2E_EXPECT") or "1")
-- A hang guard, not a measurement: long enough for a server starting on a loaded machine.
local WAIT_MS = 60000

local version = vim.version()
local result = {
  nvim = string.format("%d.%d.%d", version.major, version.minor, version.patch),
  mode = mode,
  actions = {},
  applied = {},
}

local function riskhints_client(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr, name = "riskhints" })[1]
  end
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == "riskhints" then
      return client
    end
  end
end

local function ours(bufnr)
  local found = {}
  for _, diagnostic in ipairs(vim.diagnostic.get(bufnr)) do
    if diagnostic.source == "riskhints" then
      table.insert(found, diagnostic)
    end
  end
  table.sort(found, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return found
end

local function describe(diagnostics)
  local out = {}
  for _, d in ipairs(diagnostics) do
    local lsp = (d.user_data or {}).lsp or {}
    table.insert(out, {
      code = d.code or lsp.code,
      lnum = d.lnum,
      col = d.col, -- bytes: what Neovim decoded from the server's offsets
      end_lnum = d.end_lnum,
      end_col = d.end_col,
      severity = d.severity,
      message = d.message,
      related = #(lsp.relatedInformation or {}),
    })
  end
  return out
end

-- The diagnostic as the server sent it, for the code action request's context. 0.8+ keeps the
-- original in user_data.lsp; 0.7 keeps only some fields, so its range is re-encoded here.
local function as_lsp(bufnr, d, encoding)
  local lsp = (d.user_data or {}).lsp or {}
  if lsp.range then
    return lsp
  end
  local function position(row, col)
    local character = col
    if encoding ~= "utf-8" then
      character = vim.lsp.util.character_offset(bufnr, row, col, encoding)
    end
    return { line = row, character = character }
  end
  return {
    range = { start = position(d.lnum, d.col), ["end"] = position(d.end_lnum, d.end_col) },
    severity = d.severity,
    code = d.code or lsp.code,
    source = d.source,
    message = d.message,
    data = lsp.data,
  }
end

local function code_actions(bufnr, client, d)
  local diagnostic = as_lsp(bufnr, d, client.offset_encoding)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = diagnostic.range,
    context = { diagnostics = { diagnostic } },
  }
  local responses = vim.lsp.buf_request_sync(bufnr, "textDocument/codeAction", params, WAIT_MS)
  local actions = {}
  for _, response in pairs(responses or {}) do
    for _, action in ipairs(response.result or {}) do
      table.insert(actions, action)
      table.insert(result.actions, action.title)
    end
  end
  return actions
end

local function first_titled(actions, prefixes)
  for _, action in ipairs(actions) do
    for _, prefix in ipairs(prefixes) do
      if action.title and action.title:sub(1, #prefix) == prefix then
        return action
      end
    end
  end
end

local function count(bufnr, code)
  local n = 0
  for _, d in ipairs(ours(bufnr)) do
    if d.code == code then
      n = n + 1
    end
  end
  return n
end

-- Apply one action and wait until the server has analysed the edited text: one diagnostic of
-- the rule is gone (counted, not looked up by line: an edit may add or remove lines).
local function apply(bufnr, client, action, d)
  local before = count(bufnr, d.code)
  table.insert(result.applied, action.title)
  vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
  return vim.wait(WAIT_MS, function()
    return count(bufnr, d.code) < before
  end, 20)
end

local function scenario()
  local bufnr = vim.api.nvim_get_current_buf()
  result.file = vim.api.nvim_buf_get_name(bufnr)
  result.filetype = vim.bo[bufnr].filetype
  local started = vim.uv and vim.uv.hrtime() or vim.loop.hrtime()
  local function elapsed_ms()
    return math.floor(((vim.uv and vim.uv.hrtime() or vim.loop.hrtime()) - started) / 1e6)
  end

  assert(vim.wait(WAIT_MS, function()
    local client = riskhints_client(bufnr)
    return client ~= nil and client.initialized ~= false
  end, 20), "no riskhints client attached to the buffer")
  local client = riskhints_client(bufnr)
  result.encoding = client.offset_encoding
  result.init_options = client.config.init_options
  result.debounce_text_changes = (client.config.flags or {}).debounce_text_changes

  vim.wait(WAIT_MS, function()
    return #ours(bufnr) >= expected_count
  end, 20)
  result.diagnostics_ms = elapsed_ms()
  result.initial = describe(ours(bufnr))

  if mode == "suppress" then
    for _ = 1, expected_count do
      local d = ours(bufnr)[1]
      if d == nil then
        break
      end
      local action = first_titled(code_actions(bufnr, client, d), { "Suppress" })
      assert(action, "no Suppress action offered for " .. tostring(d.code))
      assert(apply(bufnr, client, action, d), "the suppressed diagnostic did not go away")
    end
  elseif mode == "fix" then
    for _, d in ipairs(ours(bufnr)) do
      local action = first_titled(code_actions(bufnr, client, d), { "Replace", "Use" })
      if action then
        result.fixed = describe({ d })[1]
        assert(apply(bufnr, client, action, d), "the fixed diagnostic did not go away")
        break
      end
    end
  end

  result.final = describe(ours(bufnr))
  result.text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n") .. "\n"
  result.total_ms = elapsed_ms()
end

local function write_result()
  local encode = vim.json and vim.json.encode or vim.fn.json_encode
  local file = assert(io.open(result_path, "w"))
  file:write(encode(result))
  file:close()
end

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    local ok, err = pcall(scenario)
    if not ok then
      result.error = tostring(err)
    end
    local written, write_err = pcall(write_result)
    if not (ok and written) then
      io.stderr:write(tostring(err or write_err) .. "\n")
      vim.cmd("cquit 1")
    end
    vim.cmd("qall!")
  end,
})

-- Headless Neovim (0.7+, built-in LSP client) asks `guidecode serve` for completions.
-- Driven by tests/lsp/test_neovim.py:
--   nvim --headless --clean -c "luafile tests/lsp/nvim_complete.lua"
-- Inputs (environment): GUIDECODE_NVIM_FILE (the Python file to open), GUIDECODE_NVIM_PYTHON,
-- GUIDECODE_NVIM_MODEL, GUIDECODE_NVIM_DTYPE, GUIDECODE_NVIM_LINE / GUIDECODE_NVIM_CHARACTER (0-based LSP position),
-- GUIDECODE_NVIM_OUT (where the JSON report goes). Every wait is bounded; the script always quits.
-- Uses only APIs present in 0.7 (vim.lsp.start_client + buf_attach_client, no vim.lsp.start).

local env = vim.env
local out_path = assert(env.GUIDECODE_NVIM_OUT, 'GUIDECODE_NVIM_OUT is not set')
local report = { steps = {}, notifications = {} }
local WAIT_MS = tonumber(env.GUIDECODE_NVIM_WAIT_MS or '60000')

local function step(name)
  table.insert(report.steps, name)
end

-- The one result of this client for a buf_request_sync, or an error naming what went wrong.
local function sync_request(bufnr, client_id, method, params)
  local results, why = vim.lsp.buf_request_sync(bufnr, method, params, WAIT_MS)
  if not results then
    error(method .. ': no answer within ' .. WAIT_MS .. ' ms (' .. tostring(why) .. ')')
  end
  local answer = results[client_id]
  if not answer then
    error(method .. ': the guidecode client did not answer')
  end
  if answer.err then
    error(method .. ': error ' .. vim.inspect(answer.err))
  end
  return answer.result
end

local function completion_params(bufnr, line, character)
  return {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = line, character = character },
    context = { triggerKind = 1 }, -- Invoked
  }
end

local function main()
  vim.cmd('edit ' .. vim.fn.fnameescape(assert(env.GUIDECODE_NVIM_FILE)))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].filetype = 'python'
  report.log_path = vim.lsp.get_log_path()
  step('opened')

  local exited = nil
  local client_id = vim.lsp.start_client({
    name = 'guidecode',
    cmd = { env.GUIDECODE_NVIM_PYTHON, '-m', 'assistant.cli', 'serve', '--model', env.GUIDECODE_NVIM_MODEL, '--dtype', env.GUIDECODE_NVIM_DTYPE },
    root_dir = vim.fn.fnamemodify(env.GUIDECODE_NVIM_FILE, ':h'),
    init_options = { debounceMs = 0, maxTokens = 16 },
    flags = { debounce_text_changes = 0 },
    on_exit = function(code, signal)
      exited = { code = code, signal = signal }
    end,
  })
  if not client_id then
    error('vim.lsp.start_client failed')
  end
  local client = vim.lsp.get_client_by_id(client_id)
  -- Record what Neovim itself sends (didOpen, didChange, ...) on the way to the server.
  local notify = client.notify
  client.notify = function(method, params)
    table.insert(report.notifications, { method = method, params = params })
    return notify(method, params)
  end
  if not vim.lsp.buf_attach_client(bufnr, client_id) then
    error('vim.lsp.buf_attach_client failed')
  end
  if not vim.wait(WAIT_MS, function() return client.initialized end, 20) then
    error('the server did not finish `initialize` within ' .. WAIT_MS .. ' ms')
  end
  report.server_capabilities = client.server_capabilities
  report.offset_encoding = client.offset_encoding
  step('initialized')

  local line = tonumber(env.GUIDECODE_NVIM_LINE)
  local character = tonumber(env.GUIDECODE_NVIM_CHARACTER)

  -- 1. textDocument/completion at the cursor.
  report.first = sync_request(bufnr, client_id, 'textDocument/completion', completion_params(bufnr, line, character))
  step('first completion')

  -- 2. The same position over textDocument/inlineCompletion (Neovim 0.7 has no UI for it: a raw request).
  -- triggerKind 1: Invoked in LSP 3.18, Automatic in lsprotocol 2023.0.1 (0/1 there); 2 is refused by
  -- the server's lsprotocol, so 1 is the one value both read.
  report.inline = sync_request(bufnr, client_id, 'textDocument/inlineCompletion', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = line, character = character },
    context = { triggerKind = 1 },
  })
  step('inline completion')

  -- 3. The user types: the first character of the proposal when it is plain printable ASCII,
  --    otherwise an "x". nvim_buf_set_text makes Neovim send an incremental didChange.
  local proposal = ''
  local items = report.first and report.first.items or {}
  if items[1] and items[1].textEdit then
    proposal = items[1].textEdit.newText
  end
  local typed = vim.fn.strcharpart(proposal, 0, 1)
  if not typed:match('^[ -~]$') then
    typed = 'x'
  end
  report.typed = typed
  local text_line = vim.api.nvim_buf_get_lines(bufnr, line, line + 1, true)[1]
  local byte_col = vim.str_byteindex(text_line, character) -- the position is in UTF-16 units
  vim.api.nvim_buf_set_text(bufnr, line, byte_col, line, byte_col, { typed })
  local typed_line = vim.api.nvim_buf_get_lines(bufnr, line, line + 1, true)[1]
  local after = vim.str_utfindex(typed_line, byte_col + #typed)
  report.second_position = { line = line, character = after }
  step('typed')

  -- 4. Completion again after the edit (the request flushes the pending didChange first).
  report.second = sync_request(bufnr, client_id, 'textDocument/completion', completion_params(bufnr, line, after))
  step('second completion')

  -- 5. Accept the second proposal the way Neovim applies a completion item's textEdit.
  local second_items = report.second and report.second.items or {}
  if second_items[1] and second_items[1].textEdit then
    vim.lsp.util.apply_text_edits({ second_items[1].textEdit }, bufnr, client.offset_encoding)
  end
  report.buffer_lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  step('applied')

  -- 6. The server's own account of what happened.
  report.stats = sync_request(bufnr, client_id, 'workspace/executeCommand', { command = 'guidecode.stats' })
  step('stats')

  -- 7. Graceful shutdown: shutdown request, exit notification, the process ends.
  client.stop()
  if not vim.wait(WAIT_MS, function() return exited ~= nil end, 20) then
    client.stop(true)
    error('the server did not exit within ' .. WAIT_MS .. ' ms of shutdown')
  end
  report.exit = exited
  step('stopped')
end

local ok, err = xpcall(main, debug.traceback)
report.ok = ok
if not ok then
  report.error = tostring(err)
  for _, c in pairs(vim.lsp.get_active_clients()) do
    c.stop(true)
  end
end
local written = pcall(function()
  local file = assert(io.open(out_path, 'w'))
  file:write(vim.fn.json_encode(report))
  file:close()
end)
vim.cmd((ok and written) and 'qall!' or 'cquit 1')

-- A stand-in for nvim-lspconfig (not installable offline), just enough of its documented API
-- for the docs' lspconfig snippet: `lspconfig.configs` entries with a `default_config`,
-- `lspconfig.util.root_pattern`, and `require("lspconfig").<name>.setup(opts)`, which starts
-- the server for the configured filetypes with the options merged over the defaults.
local configs = {}

local util = {}
function util.root_pattern(...)
  local markers = { ... }
  return function(fname)
    local found = vim.fs.find(markers, { upward = true, path = vim.fs.dirname(fname) })[1]
    return found and vim.fs.dirname(found)
  end
end

local lspconfig = setmetatable({}, {
  __index = function(_, name)
    return {
      setup = function(opts)
        local config = vim.tbl_deep_extend("force", configs[name].default_config, opts or {})
        vim.api.nvim_create_autocmd("FileType", {
          pattern = config.filetypes,
          callback = function(args)
            local root = config.root_dir(vim.api.nvim_buf_get_name(args.buf))
            vim.lsp.start({
              name = name,
              cmd = config.cmd,
              root_dir = root or (config.single_file_support and vim.fn.getcwd() or nil),
              init_options = config.init_options,
              settings = config.settings,
            }, { bufnr = args.buf })
          end,
        })
      end,
    }
  end,
})

package.preload["lspconfig.configs"] = function()
  return configs
end
package.preload["lspconfig.util"] = function()
  return util
end
package.preload["lspconfig"] = function()
  return lspconfig
end

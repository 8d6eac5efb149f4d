// The exit-code text every command's help ends with. It lives apart from main.ts because
// commands build help text at load time, while main.ts is still importing them: a constant
// in main.ts would not exist yet (an import cycle), this one always does.

export const EXIT_CODES_HELP = `
Exit codes:
  0  ok (a refusal to offload is a normal outcome)
  1  operational error (I/O, destination, busy volume, failed verification)
  2  usage or configuration error`;

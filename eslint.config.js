// Lint: TypeScript's recommended rules plus the house boundaries. The core, the store and
// the destinations never touch the terminal or commander, and only src/clock.ts reads the clock.
import tseslint from 'typescript-eslint';

const terminal = [
  { selector: "MemberExpression[object.name='console']", message: 'The core never touches the terminal: report through the Reporter.' },
  { selector: "MemberExpression[object.name='process'][property.name='exit']", message: 'Only src/cli/main.ts decides exit codes.' },
  { selector: "MemberExpression[object.name='process'][property.name=/^(stdout|stderr)$/]", message: 'The core never touches the terminal: report through the Reporter.' },
];
const clock = [
  { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Read time through the injected Clock (src/clock.ts).' },
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Read time through the injected Clock (src/clock.ts).' },
  { selector: "MemberExpression[object.name='process'][property.name='hrtime']", message: 'Read time through the injected Clock (src/clock.ts).' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/.work/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/clock.ts'],
    rules: { 'no-restricted-syntax': ['error', ...clock] },
  },
  {
    files: ['src/core/**/*.ts', 'src/store/**/*.ts', 'src/destinations/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...clock, ...terminal],
      'no-restricted-imports': ['error', { paths: [{ name: 'commander', message: 'The core never imports the CLI.' }] }],
    },
  },
);

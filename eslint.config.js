// Lint: TypeScript's recommended rules plus the house boundaries. The core, the store and
// the destinations never touch the terminal or commander, only src/clock.ts reads the clock,
// and no layer imports from one above it.
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

const noCommander = { name: 'commander', message: 'The core never imports the CLI.' };
/** A module under src/ may not import from these layers above it. */
const below = (...layers) => ({ regex: `^(\\.\\./)+(${layers.join('|')})/`, message: `Arrows go only downward: nothing here imports from src/${layers.join(', src/')}; move what both need into the lower layer.` });

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
    rules: { 'no-restricted-syntax': ['error', ...clock, ...terminal] },
  },
  // Arrows go only downward: cli -> core -> store | destinations -> config.
  { files: ['src/core/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [noCommander], patterns: [below('cli')] }] } },
  { files: ['src/store/**/*.ts', 'src/destinations/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [noCommander], patterns: [below('cli', 'core')] }] } },
  { files: ['src/config/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [noCommander], patterns: [below('cli', 'core', 'destinations')] }] } },
);

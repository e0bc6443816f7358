/** The only module that imports the prompt library (loaded only when a prompt is needed). */

export async function confirm(message: string): Promise<boolean> {
  const { confirm: ask } = await import('@inquirer/prompts');
  try {
    return await ask({ message, default: false }, { output: process.stderr });
  } catch (error) {
    // Ctrl-C or a closed terminal at the prompt is a "no".
    if (error instanceof Error && /force closed|ExitPromptError|aborted/i.test(`${error.name} ${error.message}`)) return false;
    throw error;
  }
}

/** Asks for a tracking number, validating as the user types. */
export async function askTrackingNumber(validate: (value: string) => true | string): Promise<string> {
  const { input } = await import('@inquirer/prompts');
  return input({ message: 'Tracking number:', validate }, { output: process.stderr });
}

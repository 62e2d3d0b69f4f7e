package io.jnora.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** A plain-text table with aligned columns; numbers are formatted by kind. */
final class Table {
    private final String[] header;
    private final List<String[]> rows = new ArrayList<>();

    Table(String... header) {
        this.header = header;
    }

    void row(Object... cells) {
        String[] text = new String[cells.length];
        for (int i = 0; i < cells.length; i++) {
            text[i] = format(cells[i]);
        }
        rows.add(text);
    }

    private static String format(Object cell) {
        if (cell instanceof Double d) {
            if (d.isNaN()) {
                return "";
            }
            double a = Math.abs(d);
            return a != 0 && (a < 1e-2 || a >= 1e6) ? String.format("%.2e", d) : String.format("%.3f", d);
        }
        return String.valueOf(cell);
    }

    void print(PrintWriter out) {
        int[] width = new int[header.length];
        for (int i = 0; i < header.length; i++) {
            width[i] = header[i].length();
            for (String[] r : rows) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        printRow(out, header, width);
        StringBuilder rule = new StringBuilder();
        for (int w : width) {
            rule.append("-".repeat(w)).append("  ");
        }
        out.println(rule.toString().stripTrailing());
        for (String[] r : rows) {
            printRow(out, r, width);
        }
    }

    /** The same table as GitHub markdown: a header row, a rule, the rows (cells padded for reading as text too). */
    void printMarkdown(PrintWriter out) {
        int[] width = new int[header.length];
        for (int i = 0; i < header.length; i++) {
            width[i] = Math.max(3, header[i].length());
            for (String[] r : rows) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        out.println(markdownRow(header, width));
        String[] rule = new String[header.length];
        for (int i = 0; i < rule.length; i++) {
            rule[i] = "-".repeat(width[i]);
        }
        out.println(markdownRow(rule, width));
        for (String[] r : rows) {
            out.println(markdownRow(r, width));
        }
    }

    private static String markdownRow(String[] cells, int[] width) {
        StringBuilder line = new StringBuilder("|");
        for (int i = 0; i < cells.length; i++) {
            line.append(' ').append(String.format("%-" + width[i] + "s", cells[i].replace("|", "\\|"))).append(" |");
        }
        return line.toString();
    }

    private static void printRow(PrintWriter out, String[] cells, int[] width) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            line.append(String.format("%-" + width[i] + "s  ", cells[i]));
        }
        out.println(line.toString().stripTrailing());
    }
}

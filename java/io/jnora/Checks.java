package io.jnora;

import java.nio.FloatBuffer;

/** Argument checks shared by the API; every failure names the operation and the shapes. */
final class Checks {
    private Checks() {}

    static void requireDimensions(String operation, int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new ShapeMismatchException(operation + ": shape " + rows + "×" + cols + " has a negative dimension");
        }
    }

    static void requireLength(String operation, String operand, long length, Matrix matrix) {
        if (length != matrix.size()) {
            throw new ShapeMismatchException(operation + ": " + operand + " holds " + length
                    + " values but the matrix is " + matrix.shape() + " (" + matrix.size() + " values)");
        }
    }

    static void requireLength(String operation, String operand, long length, int rows, int cols) {
        if (length != (long) rows * cols) {
            throw new ShapeMismatchException(operation + ": " + operand + " holds " + length
                    + " values, expected " + rows + "×" + cols + " = " + (long) rows * cols);
        }
    }

    static void requireShape(String operation, String operand, Matrix matrix, int rows, int cols, String why) {
        if (matrix.rows() != rows || matrix.cols() != cols) {
            throw new ShapeMismatchException(operation + ": " + operand + " is " + matrix.shape() + ", expected "
                    + rows + "×" + cols + " (" + why + ")");
        }
    }

    static void requireCols(String operation, String operand, Matrix matrix, int cols, String why) {
        if (matrix.cols() != cols) {
            throw new ShapeMismatchException(operation + ": " + operand + " is " + matrix.shape() + ", expected "
                    + cols + " columns (" + why + ")");
        }
    }

    static void requireFinite(String operation, String operand, float[] values, int cols) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                throw nonFinite(operation, operand, values[i], i, cols);
            }
        }
    }

    static void requireFinite(String operation, String operand, FloatBuffer values, int cols) {
        int start = values.position();
        for (int i = start; i < values.limit(); i++) {
            if (!Float.isFinite(values.get(i))) {
                throw nonFinite(operation, operand, values.get(i), i - start, cols);
            }
        }
    }

    static void requireFinite(String operation, String operand, float value) {
        if (!Float.isFinite(value)) {
            throw new NonFiniteInputException(operation + ": " + operand + " is " + value);
        }
    }

    private static NonFiniteInputException nonFinite(String operation, String operand, float value, int index, int cols) {
        int c = Math.max(cols, 1);
        return new NonFiniteInputException(operation + ": " + operand + " element [" + index / c + ", " + index % c
                + "] is " + value + " (inputs must be finite)");
    }

    /** Two operands of one product must share a precision (the hardware multiplies like with like). */
    static void requireSamePrecision(String operation, Matrix a, Matrix b) {
        if (a.precision() != b.precision()) {
            throw new ShapeMismatchException(operation + ": operands of " + a.precision() + " and " + b.precision()
                    + " (" + a.shape() + ", " + b.shape() + "); convert one first");
        }
    }
}

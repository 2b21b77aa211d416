"""What is done with a trained model: explanations (occlusion, Grad-CAM) and their plots, the phone export (TFLite) and the local app."""

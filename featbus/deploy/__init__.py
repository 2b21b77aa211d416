"""What is done with a trained model once it exists.

* :mod:`featbus.deploy.explain`: occlusion and Grad-CAM explanations; :mod:`featbus.deploy.plotting`
  draws them.
* :mod:`featbus.deploy.export`: the phone export (TFLite).
* :mod:`featbus.deploy.app`: the local app (Streamlit).
"""
